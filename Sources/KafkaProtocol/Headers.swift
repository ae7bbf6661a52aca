import NIOCore

/// The request header.
///
///     v1: RequestApiKey INT16, RequestApiVersion INT16, CorrelationId INT32, ClientId NULLABLE_STRING
///     v2: v1 followed by a tagged-field section
///
/// ClientId always has an INT16 length, even in v2 (it is never compact). Header v0 (no ClientId)
/// is only used by ControlledShutdown v0, which this package does not support.
public struct RequestHeader: Sendable, Equatable {
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationId: Int32
    public var clientId: String?

    public init(apiKey: Int16, apiVersion: Int16, correlationId: Int32, clientId: String? = nil) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationId = correlationId
        self.clientId = clientId
    }

    public init(apiKey: APIKey, apiVersion: Int16, correlationId: Int32, clientId: String? = nil) {
        self.init(apiKey: apiKey.rawValue, apiVersion: apiVersion, correlationId: correlationId, clientId: clientId)
    }

    /// The header version used for this request: 2 for a flexible version of a known API, 1 for
    /// everything else (including unknown API keys and versions outside the schema's range).
    public var headerVersion: Int16 {
        guard let key = APIKey(rawValue: apiKey), key.requestType.validVersions.contains(apiVersion) else {
            return 1
        }
        return key.requestHeaderVersion(apiVersion: apiVersion)
    }

    /// Decodes the header; the header version is chosen from apiKey/apiVersion (unknown key or
    /// unsupported version: header v1, i.e. no tagged fields). ClientId is NEVER compact.
    public static func decode(from buffer: inout ByteBuffer) throws -> RequestHeader {
        var header = RequestHeader(
            apiKey: try buffer.readKafkaInt16(what: "RequestHeader.RequestApiKey"),
            apiVersion: try buffer.readKafkaInt16(what: "RequestHeader.RequestApiVersion"),
            correlationId: try buffer.readKafkaInt32(what: "RequestHeader.CorrelationId")
        )
        header.clientId = try buffer.readKafkaNullableString(compact: false, what: "RequestHeader.ClientId")
        if header.headerVersion >= 2 {
            try buffer.skipKafkaTaggedFields(what: "RequestHeader tagged fields")
        }
        return header
    }

    /// Encodes the header in the version `headerVersion` selects. A client id longer than 32767
    /// bytes is truncated to fit its INT16 length.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeKafkaInt16(apiKey)
        buffer.writeKafkaInt16(apiVersion)
        buffer.writeKafkaInt32(correlationId)
        if let clientId, clientId.utf8.count <= Int(Int16.max) {
            buffer.writeKafkaInt16(Int16(clientId.utf8.count))
            buffer.writeString(clientId)
        } else if let clientId {
            let bytes = clientId.utf8.prefix(Int(Int16.max))
            buffer.writeKafkaInt16(Int16(bytes.count))
            buffer.writeBytes(bytes)
        } else {
            buffer.writeKafkaInt16(-1)
        }
        if headerVersion >= 2 {
            buffer.writeEmptyKafkaTaggedFields()
        }
    }
}

/// The response header.
///
///     v0: CorrelationId INT32
///     v1: v0 followed by a tagged-field section
public struct ResponseHeader: Sendable, Equatable {
    public var correlationId: Int32

    public init(correlationId: Int32) {
        self.correlationId = correlationId
    }

    public static func encode(correlationId: Int32, headerVersion: Int16, into buffer: inout ByteBuffer) {
        buffer.writeKafkaInt32(correlationId)
        if headerVersion >= 1 {
            buffer.writeEmptyKafkaTaggedFields()
        }
    }

    public static func decode(from buffer: inout ByteBuffer, headerVersion: Int16) throws -> ResponseHeader {
        let correlationId = try buffer.readKafkaInt32(what: "ResponseHeader.CorrelationId")
        if headerVersion >= 1 {
            try buffer.skipKafkaTaggedFields(what: "ResponseHeader tagged fields")
        }
        return ResponseHeader(correlationId: correlationId)
    }
}
