import KafkaProtocol

/// Identifies one parked request (JoinGroup, SyncGroup, ...) inside the state machine. The caller
/// chooses tokens; the state machine only hands them back in `GroupAction`s.
public struct RequestToken: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public var description: String { "#\(rawValue)" }
}

/// The classic group states, named as Kafka names them on the wire (DescribeGroups, ListGroups).
public enum GroupState: String, Sendable, CaseIterable {
    /// No members; the group may still hold committed offsets.
    case empty = "Empty"
    /// Waiting for every member to (re)send JoinGroup; JoinGroup requests are parked.
    case preparingRebalance = "PreparingRebalance"
    /// JoinGroup answered; waiting for the leader's SyncGroup with the assignments.
    case completingRebalance = "CompletingRebalance"
    /// Assignments distributed; members heartbeat.
    case stable = "Stable"
    /// Deleted; the coordinator forgets the group.
    case dead = "Dead"
}

/// What the coordinator must do after a state machine step: answer a (possibly parked) request or
/// persist a record. Actions are listed in the order they must be performed; a `.persist` comes
/// before the responses that depend on it.
public enum GroupAction: Sendable, Equatable {
    case respondJoin(RequestToken, JoinGroupResponse)
    case respondSync(RequestToken, SyncGroupResponse)
    case respondHeartbeat(RequestToken, HeartbeatResponse)
    case respondLeave(RequestToken, LeaveGroupResponse)
    case persist(GroupRecord)
}

/// A committed offset as the coordinator retains it: the commit itself and the times offset
/// retention (KIP-211) measures from.
public struct RetainedOffset: Sendable, Equatable {
    public var committed: CommittedOffset
    public var commitTimestampMs: Int64
    /// An explicit expiry time (OffsetCommit v2-v4 retention_time_ms); nil: the broker's offset
    /// retention applies.
    public var expireTimestampMs: Int64?

    public init(_ committed: CommittedOffset, commitTimestampMs: Int64, expireTimestampMs: Int64? = nil) {
        self.committed = committed
        self.commitTimestampMs = commitTimestampMs
        self.expireTimestampMs = expireTimestampMs
    }
}

/// One member as the state machine tracks it.
struct GroupMember: Sendable {
    let memberId: String
    var groupInstanceId: String?
    var clientId: String
    var clientHost: String
    var rebalanceTimeoutMs: Int32
    var sessionTimeoutMs: Int32
    var protocolType: String
    /// The protocols (assignors) the member supports, in its preference order.
    var protocols: [JoinGroupRequest.JoinGroupRequestProtocol]
    /// The leader's assignment for this member in the current generation (empty until synced).
    var assignment: [UInt8] = []
    /// A parked JoinGroup, answered when the join phase completes.
    var awaitingJoin: RequestToken?
    /// A parked SyncGroup, answered when the leader's assignment arrives.
    var awaitingSync: RequestToken?
    /// The member is removed when this passes without a heartbeat (unless a request is parked).
    var sessionDeadline: Int64

    func metadata(for protocolName: String?) -> [UInt8] {
        protocols.first { $0.name == protocolName }?.metadata ?? []
    }
}
