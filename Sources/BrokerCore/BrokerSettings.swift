import Foundation
import LogStorage
import Security

/// The broker settings a config file (or a topology's embedded site) may set, by name.
/// Names and meanings are in docs/broker.md.
extension BrokerConfig {
    public static let settingNames = [
        "node-id", "cluster-id", "advertised-host", "advertised-port", "auto-create-topics", "num-partitions",
        "flush", "flush-interval-ms", "segment-bytes", "segment-ms", "retention-ms", "retention-bytes",
        "retention-check-interval-ms", "message-max-bytes", "max-request-bytes", "delete-retention-ms",
        "log-cleaner-interval-ms",
        "group-min-session-timeout-ms", "group-max-session-timeout-ms", "group-initial-rebalance-delay-ms",
        "group-max-size", "offset-metadata-max-bytes", "offsets-retention-minutes", "offsets-retention-ms",
        "offsets-retention-check-interval-ms", "mirror-api", "sasl-mechanisms", "connections-max-reauth-ms",
        "sasl-max-receive-bytes", "acl-authorizer", "super-users", "audit-log"
    ]

    /// Applies one setting; returns what is wrong with it instead, leaving the config unchanged.
    public mutating func apply(setting name: String, value: String) -> String? {
        func int(_ range: ClosedRange<Int64> = Int64.min...Int64.max) -> Int64? {
            guard let number = Int64(value), range.contains(number) else { return nil }
            return number
        }
        func mustBeInteger(_ range: ClosedRange<Int64>) -> String {
            range.upperBound == Int64.max
                ? "\(name) must be an integer of at least \(range.lowerBound), got '\(value)'"
                : "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(value)'"
        }
        switch name {
        case "node-id":
            guard let n = int(0...Int64(Int32.max)) else { return mustBeInteger(0...Int64(Int32.max)) }
            nodeId = Int32(n)
        case "cluster-id":
            guard !value.isEmpty else { return "cluster-id must not be empty" }
            clusterId = value
        case "advertised-host":
            guard !value.isEmpty else { return "advertised-host must not be empty" }
            advertisedHost = value
        case "advertised-port":
            guard let n = int(1...65535) else { return mustBeInteger(1...65535) }
            advertisedPort = Int32(n)
        case "auto-create-topics":
            guard let flag = Bool(value) else { return "auto-create-topics must be true or false, got '\(value)'" }
            autoCreateTopics = flag
        case "num-partitions":
            guard let n = int(1...100_000) else { return mustBeInteger(1...100_000) }
            defaultPartitions = Int32(n)
        case "flush":
            switch value {
            case "interval": log.flushPolicy = .interval(milliseconds: flushIntervalMs)
            case "per-batch": log.flushPolicy = .everyBatch
            default: return "flush must be 'interval' or 'per-batch', got '\(value)'"
            }
        case "flush-interval-ms":
            guard let n = int(1...Int64.max) else { return mustBeInteger(1...Int64.max) }
            flushIntervalMs = n
            if case .interval = log.flushPolicy { log.flushPolicy = .interval(milliseconds: n) }
        case "segment-bytes":
            guard let n = int(1024...Int64(Int32.max)) else { return mustBeInteger(1024...Int64(Int32.max)) }
            log.segmentBytes = Int(n)
        case "segment-ms":
            guard let n = int(1...Int64.max) else { return mustBeInteger(1...Int64.max) }
            log.segmentMs = n
        case "retention-ms":
            guard let n = int(-1...Int64.max) else { return mustBeInteger(-1...Int64.max) }
            log.retentionMs = n
        case "retention-bytes":
            guard let n = int(-1...Int64.max) else { return mustBeInteger(-1...Int64.max) }
            log.retentionBytes = n
        case "retention-check-interval-ms":
            guard let n = int(1...Int64.max) else { return mustBeInteger(1...Int64.max) }
            retentionCheckIntervalMs = n
        case "message-max-bytes":
            guard let n = int(1...Int64(Int32.max)) else { return mustBeInteger(1...Int64(Int32.max)) }
            messageMaxBytes = Int(n)
        case "max-request-bytes":
            guard let n = int(1024...Int64(Int32.max)) else { return mustBeInteger(1024...Int64(Int32.max)) }
            maxRequestBytes = Int(n)
        case "delete-retention-ms":
            guard let n = int(0...Int64.max) else { return mustBeInteger(0...Int64.max) }
            deleteRetentionMs = n
        case "log-cleaner-interval-ms":
            guard let n = int(1...Int64.max) else { return mustBeInteger(1...Int64.max) }
            logCleanerIntervalMs = n
        case "acl-authorizer":
            guard let flag = Bool(value) else { return "acl-authorizer must be true or false, got '\(value)'" }
            aclAuthorizer = flag
        case "super-users":
            let users = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            if let bad = users.first(where: { KafkaPrincipal(parsing: $0) == nil }) {
                return "super-users: '\(bad)' is not a principal like User:alice (separate several with ';')"
            }
            superUsers = users
        case "audit-log":
            guard !value.isEmpty else { return "audit-log must be a file path" }
            auditLogFile = value
        case "sasl-mechanisms":
            var mechanisms: [SaslMechanism] = []
            for name in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).uppercased() })
            where !name.isEmpty {
                guard let mechanism = SaslMechanism(rawValue: name) else {
                    return "sasl-mechanisms: unknown mechanism '\(name)' (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
                }
                mechanisms.append(mechanism)
            }
            guard !mechanisms.isEmpty else { return "sasl-mechanisms must name at least one mechanism" }
            saslMechanisms = mechanisms
        case "connections-max-reauth-ms":
            guard let n = int(0...Int64.max) else { return mustBeInteger(0...Int64.max) }
            connectionsMaxReauthMs = n
        case "sasl-max-receive-bytes":
            guard let n = int(1024...Int64(Int32.max)) else { return mustBeInteger(1024...Int64(Int32.max)) }
            saslMaxReceiveBytes = Int(n)
        case "mirror-api":
            guard let flag = Bool(value) else { return "mirror-api must be true or false, got '\(value)'" }
            mirrorAPI = flag
        case "group-min-session-timeout-ms":
            guard let n = int(1...Int64(Int32.max)) else { return mustBeInteger(1...Int64(Int32.max)) }
            groupCoordinator.minSessionTimeoutMs = Int32(n)
        case "group-max-session-timeout-ms":
            guard let n = int(1...Int64(Int32.max)) else { return mustBeInteger(1...Int64(Int32.max)) }
            groupCoordinator.maxSessionTimeoutMs = Int32(n)
        case "group-initial-rebalance-delay-ms":
            guard let n = int(0...Int64(Int32.max)) else { return mustBeInteger(0...Int64(Int32.max)) }
            groupCoordinator.initialRebalanceDelayMs = Int32(n)
        case "group-max-size":
            guard let n = int(1...Int64(Int32.max)) else { return mustBeInteger(1...Int64(Int32.max)) }
            groupCoordinator.maxGroupSize = Int(n)
        case "offset-metadata-max-bytes":
            guard let n = int(0...Int64(Int32.max)) else { return mustBeInteger(0...Int64(Int32.max)) }
            groupCoordinator.maxOffsetMetadataBytes = Int(n)
        case "offsets-retention-minutes":
            guard let n = int(1...Int64(Int32.max)) else { return mustBeInteger(1...Int64(Int32.max)) }
            if !offsetsRetentionMsIsExplicit { groupCoordinator.offsetsRetentionMs = n * 60_000 }
        case "offsets-retention-ms":
            guard let n = int(1...Int64.max) else { return mustBeInteger(1...Int64.max) }
            groupCoordinator.offsetsRetentionMs = n
            offsetsRetentionMsIsExplicit = true
        case "offsets-retention-check-interval-ms":
            guard let n = int(1...Int64.max) else { return mustBeInteger(1...Int64.max) }
            groupCoordinator.offsetsRetentionCheckIntervalMs = n
        default:
            return "unknown broker setting '\(name)'"
        }
        return nil
    }
}
