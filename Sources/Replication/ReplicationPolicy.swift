import Foundation

/// Include/exclude patterns for topic or group names, with the semantics of `Topology.TopicFilter`
/// and MirrorMaker 2's `DefaultTopicFilter`: Java-style regular expressions, each matched against
/// the whole name; a name is selected when some include pattern matches and no exclude pattern does.
///
/// The patterns are compiled once here (TopicFilter compiles them at every call). A pattern that
/// does not compile matches nothing (the topology loader already refuses such files).
public struct NameFilter: Sendable {
    public let include: [String]
    public let exclude: [String]
    private let includeRegexes: [CompiledPattern]
    private let excludeRegexes: [CompiledPattern]

    public init(include: [String], exclude: [String] = []) {
        self.include = include
        self.exclude = exclude
        includeRegexes = include.compactMap(CompiledPattern.init)
        excludeRegexes = exclude.compactMap(CompiledPattern.init)
    }

    /// Everything (`.*`), nothing excluded: the topology's default.
    public static let all = NameFilter(include: [".*"])

    public func matches(_ name: String) -> Bool {
        includeRegexes.contains { $0.matchesWhole(name) } && !excludeRegexes.contains { $0.matchesWhole(name) }
    }
}

/// NSRegularExpression is immutable once built and safe to share between threads.
private struct CompiledPattern: @unchecked Sendable {
    let regex: NSRegularExpression

    init?(_ pattern: String) {
        guard let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return nil }
        self.regex = regex
    }

    func matchesWhole(_ name: String) -> Bool {
        regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
    }
}

/// How a link names topics at its target.
public enum TopicNaming: Sendable, Equatable {
    /// `orders` at east becomes `east<separator>orders` at the target (MM2's DefaultReplicationPolicy).
    case prefix(separator: String)
    /// Same name at the target (MM2's IdentityReplicationPolicy); loops are cut by the provenance header.
    case identity
}

/// The naming and selection rules of one link (source site -> target site), with MirrorMaker 2's
/// semantics (`DefaultReplicationPolicy`, `IdentityReplicationPolicy`, `MirrorSourceConnector.shouldReplicateTopic`).
///
/// Pure: no I/O, no clock. Build one per link from `Topology.Link`:
/// ```swift
/// let policy = ReplicationPolicy(source: link.source, target: link.target,
///     naming: link.naming == .identity ? .identity : .prefix(separator: sep),
///     topics: NameFilter(include: link.topics.include, exclude: link.topics.exclude),
///     groups: NameFilter(include: link.groups.include, exclude: link.groups.exclude))
/// ```
///
/// A topic is replicated when all of these hold (``decision(for:)`` says which one failed):
/// 1. it is not internal (``isInternal(_:)``: MM2's `isInternalTopic`);
/// 2. the topic filter selects it, or it is a heartbeats topic (`heartbeats`, `east.heartbeats`...:
///    MM2 always replicates those so that every cluster can see which clusters reach it);
/// 3. it is not a cycle (``isCycle(_:)``): no site in its name chain is the link's target. With
///    prefix naming, link east -> west never mirrors `west.orders` living at east, nor
///    `central.west.orders`. With identity naming names carry no origin, so records are checked
///    one by one instead (see ``Provenance``).
public struct ReplicationPolicy: Sendable {
    /// The topic MM2 writes heartbeats to, in the target cluster.
    public static let heartbeatsTopic = "heartbeats"
    /// Heartbeat topics keep MM2's default "." separator under identity naming, as MM2's
    /// IdentityReplicationPolicy does, so that `heartbeats` from two sites never share a topic.
    public static let identityHeartbeatSeparator = "."

    public var source: String
    public var target: String
    public var naming: TopicNaming
    public var topics: NameFilter
    public var groups: NameFilter
    /// Replicate heartbeats topics even when the topic filter does not select them (MM2's default).
    public var replicatesHeartbeats: Bool

    public init(
        source: String, target: String, naming: TopicNaming,
        topics: NameFilter = .all, groups: NameFilter = .all, replicatesHeartbeats: Bool = true
    ) {
        self.source = source
        self.target = target
        self.naming = naming
        self.topics = topics
        self.groups = groups
        self.replicatesHeartbeats = replicatesHeartbeats
    }

    // MARK: Naming

    /// The name a source topic gets at the target: `<source><sep><topic>`, or `topic` under identity
    /// naming (heartbeats topics excepted: they are always prefixed, with ".").
    public func remoteTopic(for topic: String) -> String {
        switch naming {
        case let .prefix(separator):
            return "\(source)\(separator)\(topic)"
        case .identity:
            if isHeartbeatsTopic(topic) { return "\(source)\(Self.identityHeartbeatSeparator)\(topic)" }
            return topic
        }
    }

    /// The site a remote topic was mirrored from (its first name segment), or nil for a topic that
    /// is not a remote topic. `west.orders` -> `west`; `central.west.orders` -> `central`.
    /// Like MM2 (Java's `String.split`, which drops trailing empty strings), a name whose part after
    /// the first separator is empty or made only of separators (`west.`, `west..`) is not remote.
    /// Identity naming: always nil, except for prefixed heartbeats topics.
    public func originSite(of topic: String) -> String? {
        splitRemote(topic)?.site
    }

    /// The name the topic had one hop upstream: `central.west.orders` -> `west.orders`; nil when
    /// ``originSite(of:)`` is nil.
    public func upstreamTopic(of topic: String) -> String? {
        splitRemote(topic)?.upstream
    }

    /// The name the topic had where it was first produced, after any number of hops.
    public func originalTopic(of topic: String) -> String {
        var name = topic
        while let upstream = upstreamTopic(of: name), upstream != name { name = upstream }
        return name
    }

    private var separator: String {
        switch naming {
        case let .prefix(separator): separator
        case .identity: Self.identityHeartbeatSeparator
        }
    }

    private func splitRemote(_ topic: String) -> (site: String, upstream: String)? {
        if case .identity = naming, !isHeartbeatsTopic(topic) { return nil }
        let separator = separator
        guard !separator.isEmpty, let range = topic.range(of: separator) else { return nil }
        let site = String(topic[..<range.lowerBound])
        let upstream = String(topic[range.upperBound...])
        // Java's split drops trailing empty parts: "west." and "west.." have one part only.
        var rest = Substring(upstream)
        while rest.hasPrefix(separator) { rest = rest.dropFirst(separator.count) }
        guard !rest.isEmpty else { return nil }
        return (site, upstream)
    }

    // MARK: Selection

    /// MM2's `ReplicationPolicy.isInternalTopic`: names ending in `.internal` or `-internal`
    /// (which covers `mm2-offset-syncs.*.internal`, `*.checkpoints.internal`, Connect's topics),
    /// or starting with `__` (`__consumer_offsets`, `__transaction_state`, `__strait_groups`) or `.`.
    /// Never replicated, whatever the filter says.
    public func isInternal(_ topic: String) -> Bool {
        topic.hasSuffix(".internal") || topic.hasSuffix("-internal") || topic.hasPrefix("__") || topic.hasPrefix(".")
    }

    /// `heartbeats`, or a remote heartbeats topic (`east.heartbeats`, `west.east.heartbeats`).
    public func isHeartbeatsTopic(_ topic: String) -> Bool {
        // Prefixed heartbeats always use a separator; check the original name under both rules.
        if topic == Self.heartbeatsTopic { return true }
        let separator: String
        switch naming {
        case let .prefix(s): separator = s
        case .identity: separator = Self.identityHeartbeatSeparator
        }
        return !separator.isEmpty && topic.hasSuffix(separator + Self.heartbeatsTopic)
            && topic.count > separator.count + Self.heartbeatsTopic.count
    }

    /// Whether the topic came from this link's target at some hop (MM2's `isCycle`): sending it
    /// would send records back where they came from.
    public func isCycle(_ topic: String) -> Bool {
        var name = topic
        while case let (site, upstream)? = splitRemote(name) {
            if site == target { return true }
            if upstream == name { return false }
            name = upstream
        }
        return false
    }

    public enum TopicDecision: Sendable, Equatable {
        case replicate(remoteTopic: String)
        case skip(SkipReason)
    }

    public enum SkipReason: Sendable, Equatable {
        /// ``isInternal(_:)``.
        case internalTopic
        /// The topic filter does not select it (not included, or excluded).
        case filtered
        /// Its name says it came from the link's target (``isCycle(_:)``).
        case cycle
    }

    /// Whether to replicate a source topic on this link, and under which name.
    public func decision(for topic: String) -> TopicDecision {
        if isInternal(topic) { return .skip(.internalTopic) }
        if !(topics.matches(topic) || (replicatesHeartbeats && isHeartbeatsTopic(topic))) { return .skip(.filtered) }
        if isCycle(topic) { return .skip(.cycle) }
        return .replicate(remoteTopic: remoteTopic(for: topic))
    }

    public func shouldReplicate(_ topic: String) -> Bool {
        if case .replicate = decision(for: topic) { return true }
        return false
    }

    /// Whether the offsets of a consumer group are checkpointed on this link.
    public func shouldReplicateGroup(_ group: String) -> Bool {
        groups.matches(group)
    }
}
