/// The Kafka error codes the group coordinator returns (numbers from the Kafka protocol guide).
public enum GroupErrorCode: Int16, Sendable, CaseIterable {
    case unknownServerError = -1
    case none = 0
    case unknownTopicOrPartition = 3
    case offsetMetadataTooLarge = 12
    /// Returned by the broker's ACL checks, not by the coordinator itself.
    case topicAuthorizationFailed = 29
    case groupAuthorizationFailed = 30
    case coordinatorLoadInProgress = 14
    case coordinatorNotAvailable = 15
    case notCoordinator = 16
    case illegalGeneration = 22
    case inconsistentGroupProtocol = 23
    case invalidGroupId = 24
    case unknownMemberId = 25
    case invalidSessionTimeout = 26
    case rebalanceInProgress = 27
    case nonEmptyGroup = 68
    case groupIdNotFound = 69
    case memberIdRequired = 79
    case groupMaxSizeReached = 81
    case fencedInstanceId = 82
    case groupSubscribedToTopic = 86
    case unstableOffsetCommit = 88
}
