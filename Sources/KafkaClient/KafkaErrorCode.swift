/// A Kafka protocol error code as a broker sends it in a response.
///
/// A struct rather than an enum so that codes this table does not name still round-trip and print
/// (as "error 123"). Names and retriability follow the error table of the Kafka protocol guide.
public struct KafkaErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    public init(_ rawValue: Int16) { self.rawValue = rawValue }

    public static let unknownServerError = Self(-1)
    public static let none = Self(0)
    public static let offsetOutOfRange = Self(1)
    public static let corruptMessage = Self(2)
    public static let unknownTopicOrPartition = Self(3)
    public static let leaderNotAvailable = Self(5)
    public static let notLeaderOrFollower = Self(6)
    public static let requestTimedOut = Self(7)
    public static let replicaNotAvailable = Self(9)
    public static let networkException = Self(13)
    public static let coordinatorLoadInProgress = Self(14)
    public static let coordinatorNotAvailable = Self(15)
    public static let notCoordinator = Self(16)
    public static let notEnoughReplicas = Self(19)
    public static let notEnoughReplicasAfterAppend = Self(20)
    public static let illegalGeneration = Self(22)
    public static let inconsistentGroupProtocol = Self(23)
    public static let invalidGroupId = Self(24)
    public static let unknownMemberId = Self(25)
    public static let rebalanceInProgress = Self(27)
    public static let topicAuthorizationFailed = Self(29)
    public static let groupAuthorizationFailed = Self(30)
    public static let clusterAuthorizationFailed = Self(31)
    public static let unsupportedSaslMechanism = Self(33)
    public static let illegalSaslState = Self(34)
    public static let unsupportedVersion = Self(35)
    public static let invalidRequest = Self(42)
    public static let notController = Self(41)
    public static let kafkaStorageError = Self(56)
    public static let saslAuthenticationFailed = Self(58)
    public static let fencedLeaderEpoch = Self(74)
    public static let unknownLeaderEpoch = Self(75)
    public static let offsetNotAvailable = Self(78)
    public static let groupIdNotFound = Self(69)
    public static let unstableOffsetCommit = Self(88)
    public static let throttlingQuotaExceeded = Self(89)
    public static let unknownTopicId = Self(100)

    private static let table: [Int16: (name: String, retriable: Bool)] = [
        -1: ("UNKNOWN_SERVER_ERROR", false),
        0: ("NONE", false),
        1: ("OFFSET_OUT_OF_RANGE", false),
        2: ("CORRUPT_MESSAGE", true),
        3: ("UNKNOWN_TOPIC_OR_PARTITION", true),
        5: ("LEADER_NOT_AVAILABLE", true),
        6: ("NOT_LEADER_OR_FOLLOWER", true),
        7: ("REQUEST_TIMED_OUT", true),
        9: ("REPLICA_NOT_AVAILABLE", true),
        13: ("NETWORK_EXCEPTION", true),
        14: ("COORDINATOR_LOAD_IN_PROGRESS", true),
        15: ("COORDINATOR_NOT_AVAILABLE", true),
        16: ("NOT_COORDINATOR", true),
        19: ("NOT_ENOUGH_REPLICAS", true),
        20: ("NOT_ENOUGH_REPLICAS_AFTER_APPEND", true),
        22: ("ILLEGAL_GENERATION", false),
        23: ("INCONSISTENT_GROUP_PROTOCOL", false),
        24: ("INVALID_GROUP_ID", false),
        25: ("UNKNOWN_MEMBER_ID", false),
        27: ("REBALANCE_IN_PROGRESS", false),
        29: ("TOPIC_AUTHORIZATION_FAILED", false),
        30: ("GROUP_AUTHORIZATION_FAILED", false),
        31: ("CLUSTER_AUTHORIZATION_FAILED", false),
        33: ("UNSUPPORTED_SASL_MECHANISM", false),
        34: ("ILLEGAL_SASL_STATE", false),
        35: ("UNSUPPORTED_VERSION", false),
        41: ("NOT_CONTROLLER", true),
        42: ("INVALID_REQUEST", false),
        56: ("KAFKA_STORAGE_ERROR", true),
        58: ("SASL_AUTHENTICATION_FAILED", false),
        69: ("GROUP_ID_NOT_FOUND", false),
        74: ("FENCED_LEADER_EPOCH", true),
        75: ("UNKNOWN_LEADER_EPOCH", true),
        78: ("OFFSET_NOT_AVAILABLE", true),
        88: ("UNSTABLE_OFFSET_COMMIT", true),
        89: ("THROTTLING_QUOTA_EXCEEDED", true),
        100: ("UNKNOWN_TOPIC_ID", true),
    ]

    /// The protocol guide's name, e.g. "NOT_COORDINATOR", or "error 123" for a code not in the table.
    public var name: String { Self.table[rawValue]?.name ?? "error \(rawValue)" }

    /// Whether the protocol guide marks the error retriable (the same request may succeed later,
    /// possibly after refreshing metadata or the coordinator).
    public var isRetriable: Bool { Self.table[rawValue]?.retriable ?? false }

    public var isError: Bool { rawValue != 0 }

    /// Errors after which partition leadership must be looked up again.
    public var invalidatesLeader: Bool {
        self == .notLeaderOrFollower || self == .leaderNotAvailable || self == .unknownTopicOrPartition
            || self == .fencedLeaderEpoch || self == .unknownLeaderEpoch || self == .kafkaStorageError
            || self == .replicaNotAvailable || self == .unknownTopicId
    }

    /// Errors after which the group coordinator must be looked up again.
    public var invalidatesCoordinator: Bool {
        self == .notCoordinator || self == .coordinatorNotAvailable
    }

    public var description: String { "\(name) (\(rawValue))" }
}
