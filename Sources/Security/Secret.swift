/// A secret value (a SASL password, a key passphrase) kept in memory. Printing it, interpolating
/// it, logging it, `dump`ing it or printing a value that holds it shows `<redacted>`; only
/// `reveal()` gives the value, at the point where it is used (a SASL exchange, a hash).
public struct Secret: Sendable, Equatable, ExpressibleByStringLiteral,
    CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable
{
    private let value: String

    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }

    /// The value itself. Never log or print what this returns.
    public func reveal() -> String { value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// No children, so `dump` and reflection-based printing see nothing but the description.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
