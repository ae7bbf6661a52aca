/// Why a Kafka wire value could not be decoded.
///
/// Every case names the value that was being read (for example `"ProduceRequest.TopicData"`), so a
/// malformed frame can be diagnosed from the error alone.
public enum KafkaDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The buffer ended before the value was complete.
    case truncated(what: String)
    /// A length or count was negative where only -1 (null) or a non-negative value is allowed.
    case negativeLength(what: String, Int)
    /// A declared length or count is larger than the bytes that remain in the buffer.
    /// Checked before allocating, so a malformed frame never causes a large allocation.
    case lengthTooLarge(what: String, Int)
    /// A string's bytes are not valid UTF-8.
    case invalidUTF8(what: String)
    /// An unsigned varint ran past its maximum encoded length (5 bytes for 32 bits, 10 for 64).
    case varintTooLong
    /// A null was sent for a field that is not nullable in this version.
    case unexpectedNull(what: String)
    /// The message version is outside the schema's valid versions (apiKey is -1 for data schemas).
    case unsupportedVersion(apiKey: Int16, version: Int16)

    public var description: String {
        switch self {
        case .truncated(let what):
            return "truncated input while reading \(what)"
        case .negativeLength(let what, let length):
            return "negative length \(length) while reading \(what)"
        case .lengthTooLarge(let what, let length):
            return "declared length \(length) exceeds the remaining bytes while reading \(what)"
        case .invalidUTF8(let what):
            return "invalid UTF-8 in \(what)"
        case .varintTooLong:
            return "unsigned varint is too long"
        case .unexpectedNull(let what):
            return "null value for non-nullable \(what)"
        case .unsupportedVersion(let apiKey, let version):
            return "unsupported version \(version) for API key \(apiKey)"
        }
    }
}

/// Why a value could not be encoded.
public enum KafkaEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The message version is outside the schema's valid versions (apiKey is -1 for data schemas).
    case unsupportedVersion(apiKey: Int16, version: Int16)
    /// A string, byte array or array is longer than its length prefix can express
    /// (for example a string longer than 32767 bytes with an INT16 length).
    case valueTooLarge(what: String, Int)

    public var description: String {
        switch self {
        case .unsupportedVersion(let apiKey, let version):
            return "cannot encode version \(version) of API key \(apiKey)"
        case .valueTooLarge(let what, let length):
            return "\(what) is too long to encode (\(length))"
        }
    }
}
