import NIOCore

/// A Kafka message body (request, response or data schema) that can be read and written at any of
/// its schema's versions.
///
/// Decoding reads only the fields present in `version` and leaves the others at their defaults;
/// encoding writes only the fields present in `version` and silently skips the others.
public protocol KafkaMessage: Sendable {
    /// Decodes the body only (no size prefix, no header).
    init(from buffer: inout ByteBuffer, version: Int16) throws
    /// Encodes the body only (no size prefix, no header).
    func encode(into buffer: inout ByteBuffer, version: Int16) throws
}

/// A request body type, tied to its API key and response type.
public protocol KafkaRequestMessage: KafkaMessage {
    associatedtype Response: KafkaMessage
    static var apiKey: APIKey { get }
    /// The versions the schema defines (not necessarily the versions a broker advertises).
    static var validVersions: ClosedRange<Int16> { get }
    /// Whether `version` uses compact encodings and tagged fields.
    static func isFlexible(version: Int16) -> Bool
}

extension APIKey {
    /// Request header version: 2 (tagged fields after ClientId) for flexible versions, else 1.
    public func requestHeaderVersion(apiVersion: Int16) -> Int16 {
        requestType.isFlexible(version: apiVersion) ? 2 : 1
    }

    /// Response header version: 1 (with tagged fields) for flexible versions, else 0.
    /// ApiVersions is the exception: its response header is always v0, so a client that does not
    /// yet know the broker's versions can always parse it.
    public func responseHeaderVersion(apiVersion: Int16) -> Int16 {
        if self == .apiVersions { return 0 }
        return requestType.isFlexible(version: apiVersion) ? 1 : 0
    }
}
