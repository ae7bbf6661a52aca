import Foundation
import LogStorage

/// The topic-level configs Strait understands, their types, defaults and validation.
///
/// Unknown names are refused with INVALID_CONFIG (a typo must not be silently accepted).
/// Each entry says what Strait does with the value; see docs/broker.md.
public struct TopicConfigDefinition: Sendable {
    /// DescribeConfigs v3+ ConfigType codes.
    public enum ValueType: Int8, Sendable { case boolean = 1, string = 2, int = 3, long = 5, double = 6, list = 7 }

    public let name: String
    public let type: ValueType
    public let documentation: String
    /// The value when the topic has no override, derived from the broker config.
    let defaultValue: @Sendable (BrokerConfig) -> String
    /// Extra validation beyond the type; returns a reason when the value is refused.
    let check: @Sendable (String) -> String?

    init(
        _ name: String, _ type: ValueType, _ documentation: String,
        default defaultValue: @escaping @Sendable (BrokerConfig) -> String,
        check: @escaping @Sendable (String) -> String? = { _ in nil }
    ) {
        self.name = name
        self.type = type
        self.documentation = documentation
        self.defaultValue = defaultValue
        self.check = check
    }

    /// Returns why `value` is not acceptable, or nil.
    func problem(with value: String) -> String? {
        switch type {
        case .boolean:
            if value != "true" && value != "false" { return "\(name) must be true or false, got '\(value)'" }
        case .int:
            if Int32(value) == nil { return "\(name) must be a 32-bit integer, got '\(value)'" }
        case .long:
            if Int64(value) == nil { return "\(name) must be an integer, got '\(value)'" }
        case .double:
            if Double(value) == nil { return "\(name) must be a number, got '\(value)'" }
        case .string, .list:
            break
        }
        return check(value)
    }
}

private func atLeast(_ minimum: Int64, _ name: String) -> @Sendable (String) -> String? {
    { value in
        guard let v = Int64(value) else { return nil }
        return v < minimum ? "\(name) must be at least \(minimum), got \(v)" : nil
    }
}

private func oneOf(_ allowed: [String], _ name: String) -> @Sendable (String) -> String? {
    { value in
        allowed.contains(value) ? nil : "\(name) must be one of \(allowed.joined(separator: ", ")), got '\(value)'"
    }
}

public enum TopicConfigCatalog {
    public static let definitions: [TopicConfigDefinition] = [
        .init(
            "cleanup.policy", .list,
            "delete, compact, or both (comma-separated). compact: the log cleaner keeps the latest record per key; a compact-only topic is exempt from time and size retention.",
            default: { _ in "delete" },
            check: { value in
                let parts = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.isEmpty || parts.contains(where: { $0 != "delete" && $0 != "compact" }) {
                    return "cleanup.policy must be delete, compact or compact,delete, got '\(value)'"
                }
                return nil
            }),
        .init(
            "compression.type", .string, "Only 'producer' is supported: batches are stored exactly as produced.",
            default: { _ in "producer" },
            check: { value in
                value == "producer"
                    ? nil
                    : "compression.type '\(value)' is not supported: Strait stores batches as the producer compressed them (use 'producer')"
            }),
        .init(
            "delete.retention.ms", .long,
            "How long a tombstone stays readable after the cleaner first kept it in a cleaned segment.",
            default: { "\($0.deleteRetentionMs)" }, check: atLeast(0, "delete.retention.ms")),
        .init(
            "file.delete.delay.ms", .long, "Accepted for compatibility; segments are deleted at once.",
            default: { _ in "60000" }, check: atLeast(0, "file.delete.delay.ms")),
        .init(
            "flush.messages", .long, "Accepted for compatibility; the broker-wide flush policy applies.",
            default: { _ in "9223372036854775807" }, check: atLeast(1, "flush.messages")),
        .init(
            "flush.ms", .long, "Accepted for compatibility; the broker-wide flush policy applies.",
            default: { _ in "9223372036854775807" }, check: atLeast(0, "flush.ms")),
        .init(
            "index.interval.bytes", .int, "Bytes between entries of the sparse offset index.",
            default: { "\($0.log.indexIntervalBytes)" }, check: atLeast(0, "index.interval.bytes")),
        .init(
            "max.compaction.lag.ms", .long,
            "A dirty segment whose newest record is older than this is cleaned whatever the dirty ratio.",
            default: { _ in "9223372036854775807" }, check: atLeast(1, "max.compaction.lag.ms")),
        .init(
            "max.message.bytes", .int, "Largest record batch a producer may send to this topic.",
            default: { "\($0.messageMaxBytes)" }, check: atLeast(0, "max.message.bytes")),
        .init(
            "message.timestamp.type", .string, "Only CreateTime is supported (batches are stored unmodified).",
            default: { _ in "CreateTime" },
            check: {
                $0 == "CreateTime"
                    ? nil
                    : "message.timestamp.type '\($0)' is not supported: only CreateTime (batches are stored unmodified)"
            }),
        .init(
            "message.timestamp.before.max.ms", .long,
            "Produce is refused with INVALID_TIMESTAMP when a batch's timestamp is older than now minus this.",
            default: { _ in "9223372036854775807" }, check: atLeast(0, "message.timestamp.before.max.ms")),
        .init(
            "message.timestamp.after.max.ms", .long,
            "Produce is refused with INVALID_TIMESTAMP when a batch's timestamp is newer than now plus this.",
            default: { _ in "9223372036854775807" }, check: atLeast(0, "message.timestamp.after.max.ms")),
        .init(
            "min.cleanable.dirty.ratio", .double,
            "Clean when the not-yet-cleaned closed segments are at least this fraction of all closed ones.",
            default: { _ in "0.5" },
            check: { value in
                guard let ratio = Double(value) else { return nil }
                return ratio >= 0 && ratio <= 1 ? nil : "min.cleanable.dirty.ratio must be from 0 to 1, got \(ratio)"
            }),
        .init(
            "min.compaction.lag.ms", .long, "A segment is cleaned only once its newest record is at least this old.",
            default: { _ in "0" }, check: atLeast(0, "min.compaction.lag.ms")),
        .init(
            "min.insync.replicas", .int,
            "acks=all produce fails with NOT_ENOUGH_REPLICAS when this exceeds the replicas (one).",
            default: { _ in "1" }, check: atLeast(1, "min.insync.replicas")),
        .init(
            "preallocate", .boolean, "Accepted for compatibility; segments are not preallocated.",
            default: { _ in "false" }),
        .init(
            "retention.bytes", .long, "Delete oldest segments while the partition is larger than this (-1: no limit).",
            default: { "\($0.log.retentionBytes)" }, check: atLeast(-1, "retention.bytes")),
        .init(
            "retention.ms", .long, "Delete segments whose newest record is older than this (-1: forever).",
            default: { "\($0.log.retentionMs)" }, check: atLeast(-1, "retention.ms")),
        .init(
            "segment.bytes", .int, "Roll a new segment file at this size.", default: { "\($0.log.segmentBytes)" },
            check: atLeast(1024, "segment.bytes")),
        .init(
            "segment.ms", .long, "Roll a new segment when the active one is this old.",
            default: { "\($0.log.segmentMs)" }, check: atLeast(1, "segment.ms")),
        .init(
            "segment.index.bytes", .int, "Accepted for compatibility; indexes grow as needed.",
            default: { _ in "10485760" }, check: atLeast(4, "segment.index.bytes")),
        .init(
            "segment.jitter.ms", .long, "Accepted for compatibility; no jitter is applied.", default: { _ in "0" },
            check: atLeast(0, "segment.jitter.ms")),
        .init(
            "unclean.leader.election.enable", .boolean, "Accepted; a single-node broker has no elections.",
            default: { _ in "false" }),
        .init(
            "message.downconversion.enable", .boolean, "Accepted; Strait never down-converts.", default: { _ in "true" }
        ),
        .init(
            TopicConfigs.mirrorSourceKey, .string,
            "Strait only. Set (to the source site or cluster alias) when the replicator creates a mirror topic: the StraitMirrorAppend API writes the source's batches at their own offsets and ordinary Produce is refused with INVALID_TOPIC_EXCEPTION. Can only be set on a topic that has never held records. Delete it to promote the topic: producers then write at the next offset.",
            default: { _ in "" },
            check: { value in
                if value.isEmpty {
                    return
                        "\(TopicConfigs.mirrorSourceKey) must name the source site or cluster (delete the config to promote the topic)"
                }
                if value.utf8.count > 249 { return "\(TopicConfigs.mirrorSourceKey) is longer than 249 characters" }
                return nil
            }),
        .init(
            TopicConfigs.fencedKey, .string,
            "Strait only. Set (to a note saying why, e.g. the failover that set it) to fence the topic: every Produce to it, idempotent or not, and every StraitMirrorAppend is refused with INVALID_TOPIC_EXCEPTION and a message naming the fence; Fetch, ListOffsets and offset commits are unaffected. Delete it to unfence. The replicator never copies it to a mirror topic.",
            default: { _ in "" },
            check: { value in
                if value.trimmingCharacters(in: .whitespaces).isEmpty {
                    return
                        "\(TopicConfigs.fencedKey) must say why the topic is fenced (delete the config to unfence it)"
                }
                if value.utf8.count > 1024 { return "\(TopicConfigs.fencedKey) is longer than 1024 characters" }
                return nil
            })
    ]

    static let byName: [String: TopicConfigDefinition] = Dictionary(
        uniqueKeysWithValues: definitions.map { ($0.name, $0) })

    public static func definition(named name: String) -> TopicConfigDefinition? { byName[name] }

    /// Validates one override; returns the refusal reason or nil.
    public static func problem(name: String, value: String?) -> String? {
        guard let definition = byName[name] else { return "unknown topic config '\(name)'" }
        guard let value else { return nil }
        return definition.problem(with: value)
    }
}

/// A topic's overrides (only the keys the user set) and what they mean for its log.
public struct TopicConfigs: Sendable, Equatable, Codable {
    public var overrides: [String: String]

    public init(overrides: [String: String] = [:]) { self.overrides = overrides }

    public func value(_ name: String, broker: BrokerConfig) -> String {
        overrides[name] ?? TopicConfigCatalog.definition(named: name)?.defaultValue(broker) ?? ""
    }

    func long(_ name: String, broker: BrokerConfig) -> Int64 { Int64(value(name, broker: broker)) ?? 0 }

    /// The log settings for this topic: broker defaults with the overrides applied.
    public func logConfig(broker: BrokerConfig) -> LogConfig {
        var log = broker.log
        log.retentionMs = long("retention.ms", broker: broker)
        log.retentionBytes = long("retention.bytes", broker: broker)
        log.segmentBytes = Int(long("segment.bytes", broker: broker))
        log.segmentMs = long("segment.ms", broker: broker)
        log.indexIntervalBytes = Int(long("index.interval.bytes", broker: broker))
        if !value("cleanup.policy", broker: broker).contains("delete") {
            // Compacted topics are never trimmed by time or size.
            log.retentionMs = -1
            log.retentionBytes = -1
        }
        return log
    }

    /// The topic config that makes a topic a mirror (see `mirrorSource`).
    public static let mirrorSourceKey = "strait.mirror.source"

    /// The source site or cluster alias when the topic is a mirror written only by the
    /// StraitMirrorAppend API; nil for an ordinary (or promoted) topic.
    public var mirrorSource: String? { overrides[Self.mirrorSourceKey] }

    /// The topic config that fences a topic (see `fence`).
    public static let fencedKey = "strait.fenced"

    /// Why the topic is fenced (free text, e.g. `failover orders-dr-20261202T101500Z to west`):
    /// while set, Produce and StraitMirrorAppend are refused with INVALID_TOPIC_EXCEPTION, so a
    /// planned failover can stop the old primary's producers at the broker. Nil when not fenced.
    public var fence: String? { overrides[Self.fencedKey] }

    public var isCompacted: Bool { (overrides["cleanup.policy"] ?? "delete").contains("compact") }
}
