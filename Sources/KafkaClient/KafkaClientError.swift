import KafkaProtocol

/// Everything the client can fail with. Broker-side errors carry the Kafka error code.
public enum KafkaClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidBootstrap(String)
    case unsupportedSecurityProtocol(SecurityProtocol)
    /// SASL authentication failed (wrong password, mechanism not offered, a server that does not
    /// prove it knows the credential).
    case authenticationFailed(BrokerAddress, reason: String)
    /// The TCP connection (or the ApiVersions exchange right after it) failed.
    case connectionFailed(BrokerAddress, reason: String)
    /// The connection closed (or was closed) while the request was pending or being sent.
    case connectionClosed(BrokerAddress, reason: String)
    case requestTimedOut(BrokerAddress, api: APIKey, after: Duration)
    case cancelled
    /// The broker does not advertise the API, or no version is in both ranges.
    case noCommonVersion(BrokerAddress, api: APIKey, client: ClosedRange<Int16>, broker: ClosedRange<Int16>?)
    /// The broker sent something the protocol does not allow (unknown correlation id, bad header).
    case protocolViolation(BrokerAddress, String)
    /// A response body could not be decoded.
    case malformedResponse(BrokerAddress, api: APIKey, version: Int16, reason: String)
    /// The broker answered with an error code. `context` says what was asked ("FindCoordinator for group g").
    case broker(KafkaErrorCode, message: String?, context: String)
    /// No bootstrap server or broker could be reached; one entry per address tried.
    case noBrokerAvailable([String])
    /// Metadata does not know the broker id (it left the cluster, or metadata is stale).
    case unknownBroker(Int32)
    /// Metadata, refreshed for the topic, does not list the partition (or the topic); `String`
    /// says which. Reported per partition as UNKNOWN_TOPIC_OR_PARTITION; not retried.
    case unknownTopicOrPartition(String)
    /// `KafkaCluster.close()` was called.
    case clientClosed

    /// Whether trying again (after a backoff and, where relevant, a metadata/coordinator refresh)
    /// can succeed.
    public var isRetriable: Bool {
        switch self {
        case .connectionFailed, .connectionClosed, .requestTimedOut, .noBrokerAvailable, .unknownBroker:
            return true
        case let .broker(code, _, _):
            return code.isRetriable
        case .invalidBootstrap, .unsupportedSecurityProtocol, .authenticationFailed, .cancelled, .noCommonVersion,
            .protocolViolation, .malformedResponse, .unknownTopicOrPartition, .clientClosed:
            return false
        }
    }

    public var errorCode: KafkaErrorCode? {
        if case let .broker(code, _, _) = self { return code }
        return nil
    }

    public var description: String {
        switch self {
        case let .invalidBootstrap(reason):
            return "invalid bootstrap server list: \(reason)"
        case let .authenticationFailed(address, reason):
            return "authentication with \(address) failed: \(reason)"
        case let .unsupportedSecurityProtocol(proto):
            return
                "security protocol \(proto.rawValue) needs \(proto.usesTLS ? "TLS settings" : "")\(proto.usesTLS && proto.usesSASL ? " and " : "")\(proto.usesSASL ? "SASL credentials" : "") in the client configuration"
        case let .connectionFailed(address, reason):
            return "cannot connect to \(address): \(reason)"
        case let .connectionClosed(address, reason):
            return "connection to \(address) closed: \(reason)"
        case let .requestTimedOut(address, api, after):
            return "\(api.name) request to \(address) timed out after \(after)"
        case .cancelled:
            return "request cancelled"
        case let .noCommonVersion(address, api, client, broker):
            let brokerText = broker.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "none (not advertised)"
            return
                "no common \(api.name) version with \(address): client supports \(client.lowerBound)-\(client.upperBound), broker \(brokerText)"
        case let .protocolViolation(address, reason):
            return "protocol violation by \(address): \(reason)"
        case let .malformedResponse(address, api, version, reason):
            return "malformed \(api.name) v\(version) response from \(address): \(reason)"
        case let .broker(code, message, context):
            let detail = (message?.isEmpty == false) ? ": \(message!)" : ""
            return "\(context): \(code.name)\(detail)"
        case let .noBrokerAvailable(attempts):
            return "no broker reachable (\(attempts.joined(separator: "; ")))"
        case let .unknownBroker(id):
            return "broker \(id) is not in the cluster metadata"
        case let .unknownTopicOrPartition(what):
            return "\(what): UNKNOWN_TOPIC_OR_PARTITION"
        case .clientClosed:
            return "the client was closed"
        }
    }
}
