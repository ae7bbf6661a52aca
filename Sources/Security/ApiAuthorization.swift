import KafkaProtocol

/// One ACL check Kafka performs for a request.
public struct AclCheck: Sendable, Equatable {
    public var operation: AclOperation
    public var resourceType: AclResourceType
    /// When the check applies ("always", "idempotent producer", "auto-create", ...).
    public var when: String

    public init(_ operation: AclOperation, _ resourceType: AclResourceType, when: String = "always") {
        self.operation = operation
        self.resourceType = resourceType
        self.when = when
    }

    /// The error code a denial of this check produces.
    public var deniedError: KafkaErrorCode { resourceType.authorizationError }
}

/// The ACL checks for one API, as Kafka's request handlers perform them.
public struct ApiAuthorization: Sendable, Equatable {
    public var api: APIKey
    public var checks: [AclCheck]
    /// How denial is expressed: per resource in the response, or for the whole request.
    public var notes: String
}

/// API key → ACL checks (mirrors Kafka's KafkaApis / ControllerApis).
///
/// | API | Check | Denied → |
/// |---|---|---|
/// | Produce | WRITE topic; WRITE transactionalId (transactional). Idempotent producers were checked at InitProducerId (no IDEMPOTENT_WRITE check since Kafka 2.8, KIP-679) | 29 per partition; 53 whole request |
/// | Fetch | READ topic (consumer); CLUSTER_ACTION cluster (follower fetch) | 29 per partition; 31 |
/// | ListOffsets, OffsetForLeaderEpoch | DESCRIBE topic | 29 per partition |
/// | Metadata | DESCRIBE topic (unauthorized topics filtered when listing all; 29 when named); CREATE cluster or topic for auto-create | 29 per topic |
/// | OffsetCommit | READ group; READ topic | 30 whole; 29 per partition |
/// | TxnOffsetCommit | WRITE transactionalId; READ group; READ topic | 53; 30; 29 |
/// | OffsetFetch | DESCRIBE group; DESCRIBE topic (unauthorized partitions filtered/29) | 30; 29 |
/// | OffsetDelete | DELETE group; READ topic | 30; 29 |
/// | FindCoordinator | DESCRIBE group (key type group); DESCRIBE transactionalId (key type txn) | 30 / 53 |
/// | JoinGroup, SyncGroup, Heartbeat, LeaveGroup | READ group | 30 |
/// | DescribeGroups | DESCRIBE group | 30 per group |
/// | ListGroups | DESCRIBE cluster lists all, else DESCRIBE group per group (filtering, no error) | — |
/// | DeleteGroups | DELETE group | 30 per group |
/// | SaslHandshake, SaslAuthenticate, ApiVersions | none (pre-authentication) | — |
/// | CreateTopics | CREATE cluster, or CREATE topic; DESCRIBE_CONFIGS topic to return configs | 29 per topic |
/// | DeleteTopics | DELETE topic (DESCRIBE topic to learn it exists) | 29 per topic |
/// | DeleteRecords | DELETE topic | 29 per partition |
/// | CreatePartitions | ALTER topic | 29 per topic |
/// | InitProducerId | WRITE transactionalId (transactional); IDEMPOTENT_WRITE cluster or WRITE on any topic (idempotent) | 53 / 31 |
/// | AddPartitionsToTxn | WRITE transactionalId; WRITE topic | 53; 29 per partition |
/// | AddOffsetsToTxn | WRITE transactionalId; READ group | 53; 30 |
/// | EndTxn | WRITE transactionalId | 53 |
/// | DescribeAcls | DESCRIBE cluster | 31 |
/// | CreateAcls, DeleteAcls | ALTER cluster | 31 |
/// | DescribeConfigs | DESCRIBE_CONFIGS topic / cluster (broker configs) | 29 / 31 per resource |
/// | AlterConfigs, IncrementalAlterConfigs | ALTER_CONFIGS topic / cluster (broker configs) | 29 / 31 per resource |
/// | DescribeUserScramCredentials | DESCRIBE cluster | 31 |
/// | AlterUserScramCredentials | ALTER cluster | 31 |
/// | DescribeCluster | DESCRIBE cluster (cluster authorized operations only when asked) | 31 |
/// | DescribeProducers | READ topic | 29 per partition |
/// | StraitMirrorAppend (Strait-only) | CLUSTER_ACTION cluster | 31 |
public enum ApiAuthorizationTable {
    public static func authorization(for api: APIKey) -> ApiAuthorization {
        switch api {
        case .produce:
            return .init(
                api: api,
                checks: [
                    AclCheck(.write, .topic),
                    AclCheck(.write, .transactionalId, when: "transactional producer")
                ], notes: "TOPIC_AUTHORIZATION_FAILED per partition; a transactional id denial fails the request")
        case .fetch:
            return .init(
                api: api,
                checks: [
                    AclCheck(.read, .topic, when: "consumer fetch (replica id < 0)"),
                    AclCheck(.clusterAction, .cluster, when: "follower fetch (replica id >= 0)")
                ], notes: "TOPIC_AUTHORIZATION_FAILED per partition")
        case .listOffsets, .offsetForLeaderEpoch:
            return .init(
                api: api, checks: [AclCheck(.describe, .topic)], notes: "TOPIC_AUTHORIZATION_FAILED per partition")
        case .metadata:
            return .init(
                api: api,
                checks: [
                    AclCheck(.describe, .topic),
                    AclCheck(.create, .cluster, when: "auto-create (or CREATE on the topic)"),
                    AclCheck(.create, .topic, when: "auto-create without CREATE on the cluster")
                ],
                notes:
                    "all-topics requests silently omit unauthorized topics; named topics get TOPIC_AUTHORIZATION_FAILED"
            )
        case .offsetCommit:
            return .init(
                api: api, checks: [AclCheck(.read, .group), AclCheck(.read, .topic)],
                notes: "GROUP_AUTHORIZATION_FAILED for the request; TOPIC_AUTHORIZATION_FAILED per partition")
        case .txnOffsetCommit:
            return .init(
                api: api,
                checks: [AclCheck(.write, .transactionalId), AclCheck(.read, .group), AclCheck(.read, .topic)],
                notes: "TRANSACTIONAL_ID/GROUP denial for the request; topic per partition")
        case .offsetFetch:
            return .init(
                api: api, checks: [AclCheck(.describe, .group), AclCheck(.describe, .topic)],
                notes:
                    "GROUP_AUTHORIZATION_FAILED for the group; unauthorized partitions get TOPIC_AUTHORIZATION_FAILED (or are omitted when fetching all)"
            )
        case .offsetDelete:
            return .init(
                api: api, checks: [AclCheck(.delete, .group), AclCheck(.read, .topic)],
                notes: "GROUP_AUTHORIZATION_FAILED for the request; topic per partition")
        case .findCoordinator:
            return .init(
                api: api,
                checks: [
                    AclCheck(.describe, .group, when: "key type GROUP"),
                    AclCheck(.describe, .transactionalId, when: "key type TRANSACTION")
                ], notes: "per coordinator key")
        case .joinGroup, .syncGroup, .heartbeat, .leaveGroup:
            return .init(api: api, checks: [AclCheck(.read, .group)], notes: "GROUP_AUTHORIZATION_FAILED")
        case .describeGroups:
            return .init(api: api, checks: [AclCheck(.describe, .group)], notes: "GROUP_AUTHORIZATION_FAILED per group")
        case .listGroups:
            return .init(
                api: api,
                checks: [
                    AclCheck(.describe, .cluster, when: "lists every group"),
                    AclCheck(.describe, .group, when: "otherwise: each group filtered, never an error")
                ], notes: "filtering")
        case .deleteGroups:
            return .init(api: api, checks: [AclCheck(.delete, .group)], notes: "GROUP_AUTHORIZATION_FAILED per group")
        case .saslHandshake, .saslAuthenticate, .apiVersions:
            return .init(api: api, checks: [], notes: "allowed before authentication")
        case .createTopics:
            return .init(
                api: api,
                checks: [
                    AclCheck(.create, .cluster, when: "either CREATE on the cluster"),
                    AclCheck(.create, .topic, when: "or CREATE on the topic"),
                    AclCheck(.describeConfigs, .topic, when: "to return the topic's configs")
                ], notes: "TOPIC_AUTHORIZATION_FAILED per topic")
        case .deleteTopics:
            return .init(
                api: api,
                checks: [AclCheck(.delete, .topic), AclCheck(.describe, .topic, when: "to learn whether it exists")],
                notes: "TOPIC_AUTHORIZATION_FAILED per topic")
        case .deleteRecords:
            return .init(
                api: api, checks: [AclCheck(.delete, .topic)], notes: "TOPIC_AUTHORIZATION_FAILED per partition")
        case .createPartitions:
            return .init(api: api, checks: [AclCheck(.alter, .topic)], notes: "TOPIC_AUTHORIZATION_FAILED per topic")
        case .initProducerId:
            return .init(
                api: api,
                checks: [
                    AclCheck(.write, .transactionalId, when: "transactional"),
                    AclCheck(
                        .idempotentWrite, .cluster,
                        when: "idempotent, unless the principal has WRITE on any topic (KIP-679)")
                ], notes: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED / CLUSTER_AUTHORIZATION_FAILED")
        case .addPartitionsToTxn:
            return .init(
                api: api, checks: [AclCheck(.write, .transactionalId), AclCheck(.write, .topic)],
                notes: "TRANSACTIONAL_ID for the request; TOPIC per partition")
        case .addOffsetsToTxn:
            return .init(
                api: api, checks: [AclCheck(.write, .transactionalId), AclCheck(.read, .group)],
                notes: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED / GROUP_AUTHORIZATION_FAILED")
        case .endTxn:
            return .init(
                api: api, checks: [AclCheck(.write, .transactionalId)], notes: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
        case .describeAcls:
            return .init(api: api, checks: [AclCheck(.describe, .cluster)], notes: "CLUSTER_AUTHORIZATION_FAILED")
        case .createAcls, .deleteAcls:
            return .init(
                api: api, checks: [AclCheck(.alter, .cluster)],
                notes: "CLUSTER_AUTHORIZATION_FAILED; changes are audited")
        case .describeConfigs:
            return .init(
                api: api,
                checks: [
                    AclCheck(.describeConfigs, .topic, when: "topic resources"),
                    AclCheck(.describeConfigs, .cluster, when: "broker resources")
                ], notes: "per resource")
        case .alterConfigs, .incrementalAlterConfigs:
            return .init(
                api: api,
                checks: [
                    AclCheck(.alterConfigs, .topic, when: "topic resources"),
                    AclCheck(.alterConfigs, .cluster, when: "broker resources")
                ], notes: "per resource; changes are audited")
        case .describeUserScramCredentials:
            return .init(api: api, checks: [AclCheck(.describe, .cluster)], notes: "CLUSTER_AUTHORIZATION_FAILED")
        case .alterUserScramCredentials:
            return .init(
                api: api, checks: [AclCheck(.alter, .cluster)],
                notes: "CLUSTER_AUTHORIZATION_FAILED; changes are audited")
        case .describeCluster:
            return .init(api: api, checks: [AclCheck(.describe, .cluster)], notes: "CLUSTER_AUTHORIZATION_FAILED")
        case .describeProducers:
            return .init(api: api, checks: [AclCheck(.read, .topic)], notes: "TOPIC_AUTHORIZATION_FAILED per partition")
        case .straitMirrorAppend:
            return .init(
                api: api, checks: [AclCheck(.clusterAction, .cluster)],
                notes: "Strait-only replicator append: CLUSTER_AUTHORIZATION_FAILED")
        }
    }
}
