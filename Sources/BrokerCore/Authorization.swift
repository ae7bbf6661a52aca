import Foundation
import GroupCoordination
import KafkaProtocol
import NIOCore
import Security

/// ACL checks (Kafka's model, module Security) as the handlers use them. Without an authorizer
/// (`acl-authorizer: false`, the default) every check allows.
extension Broker {
    /// Whether the connection's principal may do `operation` on `resource`; a denial is audited.
    func allowed(
        _ operation: AclOperation, _ resource: AclResource, _ connection: ConnectionContext,
        api: String, audit: Bool = true
    ) -> Bool {
        guard let authorizer else { return true }
        return authorizer.authorize(
            principal: connection.session.principal, host: connection.remoteHost,
            operation: operation, resource: resource, api: api, audit: audit)
    }

    /// A per-request memo of `operation` on topics (each topic checked, and audited, once).
    func topicPermission(
        _ operation: AclOperation, _ connection: ConnectionContext, api: String,
        audit: Bool = true
    ) -> (String) -> Bool {
        guard authorizer != nil else { return { _ in true } }
        var memo: [String: Bool] = [:]
        return { topic in
            if let known = memo[topic] { return known }
            let verdict = self.allowed(operation, .topic(topic), connection, api: api, audit: audit)
            memo[topic] = verdict
            return verdict
        }
    }

    /// Auto-creation and CreateTopics: CREATE on the cluster, or on the topic.
    func mayCreate(_ topic: String, _ connection: ConnectionContext, api: String) -> Bool {
        allowed(.create, .cluster, connection, api: api, audit: false)
            || allowed(.create, .topic(topic), connection, api: api)
    }

    /// InitProducerId: a transactional producer needs WRITE on its transactional id
    /// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); an idempotent one IDEMPOTENT_WRITE on the cluster
    /// or, since Kafka 2.8 (KIP-679), WRITE on at least one topic (CLUSTER_AUTHORIZATION_FAILED).
    /// A denied idempotent producer is audited once, as IDEMPOTENT_WRITE on the cluster.
    func initProducerIdDenial(_ request: InitProducerIdRequest, _ connection: ConnectionContext) -> KafkaErrorCode? {
        guard let authorizer else { return nil }
        if let transactionalId = request.transactionalId {
            return allowed(.write, .transactionalId(transactionalId), connection, api: "InitProducerId")
                ? nil : .transactionalIdAuthorizationFailed
        }
        let principal = connection.session.principal, host = connection.remoteHost
        if allowed(.idempotentWrite, .cluster, connection, api: "InitProducerId", audit: false)
            || authorizer.authorizeByResourceType(
                principal: principal, host: host, operation: .write, resourceType: .topic,
                audit: false)
        {
            return nil
        }
        authorizer.auditLog?.denied(
            principal: principal, host: host, api: "InitProducerId", operation: .idempotentWrite,
            resource: .cluster)
        return .clusterAuthorizationFailed
    }

    /// The group a group API names must allow `operation`, else GROUP_AUTHORIZATION_FAILED.
    func groupDenied(_ group: String, _ operation: AclOperation, _ connection: ConnectionContext, api: String) -> Bool {
        !allowed(operation, .group(group), connection, api: api)
    }

    /// Describe/AlterConfigs: topic resources (type 2) need the operation on the topic, broker
    /// resources (type 4) on the cluster.
    func configAllowed(
        _ resourceType: Int8, _ name: String, _ operation: AclOperation, _ connection: ConnectionContext,
        _ api: String
    ) -> Bool {
        resourceType == 2
            ? allowed(operation, .topic(name), connection, api: api)
            : allowed(operation, .cluster, connection, api: api)
    }

    /// Serves the resources the principal may touch (`serve` gets them in request order and
    /// answers each) and answers the others with `denied`, keeping the request's order.
    func servePermitted<Resource, Answer>(
        _ resources: [Resource], permitted: (Resource) -> Bool,
        serve: ([Resource]) -> [Answer], denied: (Resource) -> Answer
    ) -> [Answer] {
        let verdicts = resources.map(permitted)
        var answers = serve(zip(resources, verdicts).filter(\.1).map(\.0)).makeIterator()
        return zip(resources, verdicts).map { resource, ok in ok ? answers.next()! : denied(resource) }
    }

    /// Audit lines for Alter/IncrementalAlterConfigs results (resource type 2 is a topic).
    func auditConfigChanges(
        _ api: String, _ results: [(type: Int8, name: String, errorCode: KafkaErrorCode, message: String?)],
        _ connection: ConnectionContext
    ) {
        for result in results {
            auditAdmin(
                api, "ALTER_CONFIGS", "\(result.type == 2 ? "TOPIC" : "BROKER"):\(result.name)",
                errorCode: result.errorCode, connection, detail: result.message)
        }
    }

    /// One audit line per administrative change (when the audit log is on).
    func auditAdmin(
        _ api: String, _ action: String, _ resource: String, errorCode: KafkaErrorCode, _ connection: ConnectionContext,
        detail: String? = nil
    ) {
        auditLog?.admin(
            principal: connection.session.principal, host: connection.remoteHost, api: api,
            action: action, resource: resource, success: errorCode == 0, detail: detail)
    }

}

// MARK: - The authorization step

/// The authorization step of every API that has ACLs: the dispatch calls one of these with the
/// decoded request; it decides which resources and operations are checked, calls the handler
/// with the permitted part only, and answers the denied part with the Kafka error code (per
/// topic, partition or group where Kafka authorizes per resource). Successful administrative
/// changes are audited here too. Metadata, FindCoordinator, CreateTopics and DeleteTopics check
/// inside their handlers, with the helpers above: their checks are interleaved with validation
/// whose order Kafka fixes (a topic id is resolved, a name validated, before DESCRIBE or DELETE).
extension Broker {
    /// Produce: WRITE on each topic; partitions of denied topics get TOPIC_AUTHORIZATION_FAILED.
    /// Auto-creating a topic needs CREATE (checked only when the topic does not exist).
    func authorizedProduce(_ request: ProduceRequest, version: Int16, connection: ConnectionContext) -> ProduceResponse
    {
        let writable = topicPermission(.write, connection, api: "Produce")
        let responses = servePermitted(
            request.topicData,
            permitted: { $0.partitionData.isEmpty || writable($0.name) },
            serve: { allowed in
                var allowedRequest = request
                allowedRequest.topicData = allowed
                return produce(
                    allowedRequest, version: version, mayCreate: { self.mayCreate($0, connection, api: "Produce") }
                ).responses
            },
            denied: { topic in
                ProduceResponse.TopicProduceResponse(
                    name: topic.name,
                    partitionResponses: topic.partitionData.map {
                        ProduceResponse.PartitionProduceResponse(
                            index: $0.index, errorCode: .topicAuthorizationFailed, baseOffset: -1, logAppendTimeMs: -1,
                            logStartOffset: -1, errorMessage: "not authorized to write to \(topic.name)")
                    })
            })
        return ProduceResponse(responses: responses, throttleTimeMs: 0)
    }

    /// Fetch: READ on each topic; partitions of denied topics get TOPIC_AUTHORIZATION_FAILED, and
    /// a response with a denial goes back at once (as any response with an error does). A fetch
    /// naming a session is refused by the handler before any topic is checked, as in Kafka.
    func authorizedFetch(_ request: FetchRequest, version: Int16, connection: ConnectionContext) async -> FetchResponse
    {
        if version >= 7, request.sessionId != 0 { return await fetch(request, version: version) }
        let readable = topicPermission(.read, connection, api: "Fetch")
        let verdicts = request.topics.map { $0.partitions.isEmpty || readable($0.topic) }
        var allowedRequest = request
        allowedRequest.topics = zip(request.topics, verdicts).filter(\.1).map(\.0)
        if verdicts.contains(false) { allowedRequest.maxWaitMs = 0 }
        var response = await fetch(allowedRequest, version: version)
        var served = response.responses.makeIterator()
        response.responses = zip(request.topics, verdicts).map { topic, ok in
            ok
                ? served.next()!
                : .init(
                    topic: topic.topic,
                    partitions: topic.partitions.map {
                        .init(
                            partitionIndex: $0.partition, errorCode: .topicAuthorizationFailed,
                            highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: nil)
                    })
        }
        return response
    }

    /// ListOffsets: DESCRIBE on each topic; partitions of denied topics get TOPIC_AUTHORIZATION_FAILED.
    func authorizedListOffsets(_ request: ListOffsetsRequest, version: Int16, connection: ConnectionContext)
        -> ListOffsetsResponse
    {
        let describable = topicPermission(.describe, connection, api: "ListOffsets")
        let topics = servePermitted(
            request.topics,
            permitted: { $0.partitions.isEmpty || describable($0.name) },
            serve: { allowed in
                var allowedRequest = request
                allowedRequest.topics = allowed
                return listOffsets(allowedRequest, version: version).topics
            },
            denied: { topic in
                ListOffsetsResponse.ListOffsetsTopicResponse(
                    name: topic.name,
                    partitions: topic.partitions.map {
                        ListOffsetsResponse.ListOffsetsPartitionResponse(
                            partitionIndex: $0.partitionIndex, errorCode: .topicAuthorizationFailed,
                            timestamp: -1, offset: -1, leaderEpoch: -1)
                    })
            })
        return ListOffsetsResponse(throttleTimeMs: 0, topics: topics)
    }

    /// CreateTopics (CREATE is checked by the handler, per topic), audited unless validate-only.
    func auditedCreateTopics(_ request: CreateTopicsRequest, version: Int16, connection: ConnectionContext)
        -> CreateTopicsResponse
    {
        let response = createTopics(request, version: version, connection: connection)
        if !request.validateOnly {
            for result in response.topics {
                auditAdmin(
                    "CreateTopics", "CREATE_TOPIC", "TOPIC:\(result.name)", errorCode: result.errorCode, connection,
                    detail: result.errorMessage)
            }
        }
        return response
    }

    /// DeleteTopics (DELETE is checked by the handler, per topic), audited.
    func auditedDeleteTopics(_ request: DeleteTopicsRequest, version: Int16, connection: ConnectionContext)
        -> DeleteTopicsResponse
    {
        let response = deleteTopics(request, version: version, connection: connection)
        for result in response.responses {
            auditAdmin(
                "DeleteTopics", "DELETE_TOPIC", "TOPIC:\(result.name ?? "\(result.topicId)")",
                errorCode: result.errorCode, connection, detail: result.errorMessage)
        }
        return response
    }

    /// DeleteRecords: DELETE on each topic; denied topics are answered after the others.
    func authorizedDeleteRecords(_ request: DeleteRecordsRequest, connection: ConnectionContext)
        -> DeleteRecordsResponse
    {
        let deletable = topicPermission(.delete, connection, api: "DeleteRecords")
        var allowedRequest = request
        allowedRequest.topics = request.topics.filter { deletable($0.name) }
        var response = deleteRecords(allowedRequest)
        response.topics += request.topics.filter { !deletable($0.name) }.map { topic in
            .init(
                name: topic.name,
                partitions: topic.partitions.map {
                    .init(partitionIndex: $0.partitionIndex, lowWatermark: -1, errorCode: .topicAuthorizationFailed)
                })
        }
        for topic in response.topics {
            for partition in topic.partitions {
                auditAdmin(
                    "DeleteRecords", "DELETE_RECORDS",
                    "TOPIC:\(topic.name)-\(partition.partitionIndex) below \(partition.lowWatermark)",
                    errorCode: partition.errorCode, connection)
            }
        }
        return response
    }

    func authorizedInitProducerId(_ request: InitProducerIdRequest, connection: ConnectionContext)
        -> InitProducerIdResponse
    {
        if let denial = initProducerIdDenial(request, connection) {
            return InitProducerIdResponse(throttleTimeMs: 0, errorCode: denial, producerId: -1, producerEpoch: -1)
        }
        return initProducerId(request)
    }

    /// The error for a config resource the principal may not touch: topic or cluster.
    static func configDenial(_ resourceType: Int8) -> KafkaErrorCode {
        resourceType == 2 ? .topicAuthorizationFailed : .clusterAuthorizationFailed
    }

    func authorizedDescribeConfigs(_ request: DescribeConfigsRequest, version: Int16, connection: ConnectionContext)
        -> DescribeConfigsResponse
    {
        let results = servePermitted(
            request.resources,
            permitted: {
                configAllowed($0.resourceType, $0.resourceName, .describeConfigs, connection, "DescribeConfigs")
            },
            serve: { allowed in
                var allowedRequest = request
                allowedRequest.resources = allowed
                return describeConfigs(allowedRequest, version: version).results
            },
            denied: {
                DescribeConfigsResponse.DescribeConfigsResult(
                    errorCode: Self.configDenial($0.resourceType),
                    errorMessage: "not authorized to describe the configs of \($0.resourceName)",
                    resourceType: $0.resourceType, resourceName: $0.resourceName, configs: [])
            })
        return DescribeConfigsResponse(throttleTimeMs: 0, results: results)
    }

    func authorizedAlterConfigs(_ request: AlterConfigsRequest, connection: ConnectionContext) -> AlterConfigsResponse {
        let responses = servePermitted(
            request.resources,
            permitted: { configAllowed($0.resourceType, $0.resourceName, .alterConfigs, connection, "AlterConfigs") },
            serve: { allowed in
                var allowedRequest = request
                allowedRequest.resources = allowed
                return alterConfigs(allowedRequest).responses
            },
            denied: {
                AlterConfigsResponse.AlterConfigsResourceResponse(
                    errorCode: Self.configDenial($0.resourceType),
                    errorMessage: "not authorized to alter the configs of \($0.resourceName)",
                    resourceType: $0.resourceType, resourceName: $0.resourceName)
            })
        if !request.validateOnly {
            auditConfigChanges(
                "AlterConfigs", responses.map { ($0.resourceType, $0.resourceName, $0.errorCode, $0.errorMessage) },
                connection)
        }
        return AlterConfigsResponse(throttleTimeMs: 0, responses: responses)
    }

    func authorizedIncrementalAlterConfigs(_ request: IncrementalAlterConfigsRequest, connection: ConnectionContext)
        -> IncrementalAlterConfigsResponse
    {
        let responses = servePermitted(
            request.resources,
            permitted: {
                configAllowed($0.resourceType, $0.resourceName, .alterConfigs, connection, "IncrementalAlterConfigs")
            },
            serve: { allowed in
                var allowedRequest = request
                allowedRequest.resources = allowed
                return incrementalAlterConfigs(allowedRequest).responses
            },
            denied: {
                IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
                    errorCode: Self.configDenial($0.resourceType),
                    errorMessage: "not authorized to alter the configs of \($0.resourceName)",
                    resourceType: $0.resourceType, resourceName: $0.resourceName)
            })
        if !request.validateOnly {
            auditConfigChanges(
                "IncrementalAlterConfigs",
                responses.map { ($0.resourceType, $0.resourceName, $0.errorCode, $0.errorMessage) }, connection)
        }
        return IncrementalAlterConfigsResponse(throttleTimeMs: 0, responses: responses)
    }

    /// CreatePartitions: ALTER on each topic; denied topics are answered after the others.
    func authorizedCreatePartitions(_ request: CreatePartitionsRequest, connection: ConnectionContext)
        -> CreatePartitionsResponse
    {
        let alterable = topicPermission(.alter, connection, api: "CreatePartitions")
        var allowedRequest = request
        allowedRequest.topics = request.topics.filter { alterable($0.name) }
        var response = createPartitions(allowedRequest)
        response.results += request.topics.filter { !alterable($0.name) }.map {
            .init(
                name: $0.name, errorCode: .topicAuthorizationFailed, errorMessage: "not authorized to alter \($0.name)")
        }
        if !request.validateOnly {
            for result in response.results {
                auditAdmin(
                    "CreatePartitions", "CREATE_PARTITIONS", "TOPIC:\(result.name)", errorCode: result.errorCode,
                    connection, detail: result.errorMessage)
            }
        }
        return response
    }

    func authorizedDescribeCluster(_ request: DescribeClusterRequest, version: Int16, connection: ConnectionContext)
        -> DescribeClusterResponse
    {
        guard allowed(.describe, .cluster, connection, api: "DescribeCluster") else {
            return DescribeClusterResponse(
                throttleTimeMs: 0, errorCode: .clusterAuthorizationFailed,
                errorMessage: "not authorized to describe the cluster", endpointType: request.endpointType,
                clusterId: "", controllerId: -1, brokers: [])
        }
        return describeCluster(request, version: version, connection: connection)
    }

    /// StraitMirrorAppend: WRITE on each topic; denied topics are answered after the others.
    func authorizedMirrorAppend(_ request: StraitMirrorAppendRequest, connection: ConnectionContext)
        -> StraitMirrorAppendResponse
    {
        let writable = topicPermission(.write, connection, api: "StraitMirrorAppend")
        var allowedRequest = request
        allowedRequest.topics = request.topics.filter { writable($0.name) }
        var response = mirrorAppend(allowedRequest)
        response.topics += request.topics.filter { !writable($0.name) }.map { topic in
            .init(
                name: topic.name,
                partitions: topic.partitions.map {
                    .init(
                        partitionIndex: $0.partitionIndex, errorCode: .topicAuthorizationFailed,
                        errorMessage: "not authorized to write to \(topic.name)", logEndOffset: -1, logStartOffset: -1,
                        appendedBatches: 0, skippedBatches: 0)
                })
        }
        return response
    }

    func authorizedDescribeUserScramCredentials(
        _ request: DescribeUserScramCredentialsRequest, connection: ConnectionContext
    ) -> DescribeUserScramCredentialsResponse {
        guard allowed(.describe, .cluster, connection, api: "DescribeUserScramCredentials") else {
            return DescribeUserScramCredentialsResponse(
                throttleTimeMs: 0, errorCode: .clusterAuthorizationFailed,
                errorMessage: "not authorized to describe users", results: [])
        }
        return describeUserScramCredentials(request)
    }

    func authorizedAlterUserScramCredentials(_ request: AlterUserScramCredentialsRequest, connection: ConnectionContext)
        -> AlterUserScramCredentialsResponse
    {
        guard allowed(.alter, .cluster, connection, api: "AlterUserScramCredentials") else {
            let users = Set(request.deletions.map(\.name) + request.upsertions.map(\.name)).sorted()
            return AlterUserScramCredentialsResponse(
                throttleTimeMs: 0,
                results: users.map {
                    .init(
                        user: $0, errorCode: .clusterAuthorizationFailed, errorMessage: "not authorized to alter users")
                })
        }
        let response = alterUserScramCredentials(request, connection: connection)
        for result in response.results {
            auditAdmin(
                "AlterUserScramCredentials", "ALTER_USER", "USER:\(result.user)", errorCode: result.errorCode,
                connection, detail: result.errorMessage)
        }
        return response
    }

    // Consumer groups: READ on the group for membership and commits, DESCRIBE to look, DELETE to delete.

    func authorizedJoinGroup(
        _ request: JoinGroupRequest, version: Int16, client: ClientInfo, connection: ConnectionContext
    ) async -> JoinGroupResponse {
        if groupDenied(request.groupId, .read, connection, api: "JoinGroup") {
            return GroupStateMachine.joinError(.groupAuthorizationFailed, memberId: request.memberId)
        }
        return await groups.handle(request, version: version, client: client)
    }

    func authorizedSyncGroup(_ request: SyncGroupRequest, version: Int16, connection: ConnectionContext) async
        -> SyncGroupResponse
    {
        if groupDenied(request.groupId, .read, connection, api: "SyncGroup") {
            return GroupStateMachine.syncError(.groupAuthorizationFailed)
        }
        return await groups.handle(request, version: version)
    }

    func authorizedHeartbeat(_ request: HeartbeatRequest, version: Int16, connection: ConnectionContext)
        -> HeartbeatResponse
    {
        groupDenied(request.groupId, .read, connection, api: "Heartbeat")
            ? HeartbeatResponse(errorCode: .groupAuthorizationFailed) : groups.handle(request, version: version)
    }

    func authorizedLeaveGroup(_ request: LeaveGroupRequest, version: Int16, connection: ConnectionContext)
        -> LeaveGroupResponse
    {
        groupDenied(request.groupId, .read, connection, api: "LeaveGroup")
            ? LeaveGroupResponse(errorCode: .groupAuthorizationFailed) : groups.handle(request, version: version)
    }

    /// OffsetCommit: READ on the group, and READ on each topic (partitions of denied topics get
    /// TOPIC_AUTHORIZATION_FAILED, the others are committed).
    func authorizedOffsetCommit(_ request: OffsetCommitRequest, version: Int16, connection: ConnectionContext)
        -> OffsetCommitResponse
    {
        if groupDenied(request.groupId, .read, connection, api: "OffsetCommit") {
            return OffsetCommitResponse(
                throttleTimeMs: 0,
                topics: request.topics.map { topic in
                    .init(
                        name: topic.name,
                        partitions: topic.partitions.map {
                            .init(partitionIndex: $0.partitionIndex, errorCode: .groupAuthorizationFailed)
                        })
                })
        }
        let readable = topicPermission(.read, connection, api: "OffsetCommit")
        var allowedRequest = request
        allowedRequest.topics = request.topics.filter { readable($0.name) }
        var response = groups.handle(allowedRequest, version: version)
        for topic in request.topics where !readable(topic.name) {
            response.topics.append(
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map {
                        .init(partitionIndex: $0.partitionIndex, errorCode: .topicAuthorizationFailed)
                    }))
        }
        return response
    }

    /// OffsetFetch: DESCRIBE on each group (v8+ asks for several).
    func authorizedOffsetFetch(_ request: OffsetFetchRequest, version: Int16, connection: ConnectionContext)
        -> OffsetFetchResponse
    {
        if version < 8 {
            guard !groupDenied(request.groupId, .describe, connection, api: "OffsetFetch") else {
                return OffsetFetchResponse(throttleTimeMs: 0, topics: [], errorCode: .groupAuthorizationFailed)
            }
            return groups.handle(request, version: version)
        }
        let denied = Set(
            request.groups.map(\.groupId).filter { groupDenied($0, .describe, connection, api: "OffsetFetch") })
        var allowedRequest = request
        allowedRequest.groups = request.groups.filter { !denied.contains($0.groupId) }
        var response = groups.handle(allowedRequest, version: version)
        response.groups += denied.sorted().map { .init(groupId: $0, topics: [], errorCode: .groupAuthorizationFailed) }
        return response
    }

    func authorizedOffsetDelete(_ request: OffsetDeleteRequest, version: Int16, connection: ConnectionContext)
        -> OffsetDeleteResponse
    {
        groupDenied(request.groupId, .delete, connection, api: "OffsetDelete")
            ? OffsetDeleteResponse(errorCode: .groupAuthorizationFailed, throttleTimeMs: 0, topics: [])
            : groups.handle(request, version: version)
    }

    /// ListGroups: only groups the principal may DESCRIBE are listed (the others silently left out).
    func authorizedListGroups(_ request: ListGroupsRequest, version: Int16, connection: ConnectionContext)
        -> ListGroupsResponse
    {
        var response = groups.handle(request, version: version)
        response.groups = response.groups.filter {
            allowed(.describe, .group($0.groupId), connection, api: "ListGroups", audit: false)
        }
        return response
    }

    func authorizedDescribeGroups(_ request: DescribeGroupsRequest, version: Int16, connection: ConnectionContext)
        -> DescribeGroupsResponse
    {
        var response = groups.handle(request, version: version)
        response.groups = response.groups.map { group in
            guard groupDenied(group.groupId, .describe, connection, api: "DescribeGroups") else { return group }
            return DescribeGroupsResponse.DescribedGroup(
                errorCode: .groupAuthorizationFailed, groupId: group.groupId,
                groupState: "", protocolType: "", protocolData: "", members: [])
        }
        return response
    }

    /// DeleteGroups: DELETE on each group; denied groups are answered after the others.
    func authorizedDeleteGroups(_ request: DeleteGroupsRequest, version: Int16, connection: ConnectionContext)
        -> DeleteGroupsResponse
    {
        let denied = Set(request.groupsNames.filter { groupDenied($0, .delete, connection, api: "DeleteGroups") })
        var allowedRequest = request
        allowedRequest.groupsNames = request.groupsNames.filter { !denied.contains($0) }
        var response = groups.handle(allowedRequest, version: version)
        response.results += denied.sorted().map { .init(groupId: $0, errorCode: .groupAuthorizationFailed) }
        for result in response.results where !denied.contains(result.groupId) {
            auditAdmin(
                "DeleteGroups", "DELETE_GROUP", "GROUP:\(result.groupId)", errorCode: result.errorCode, connection)
        }
        return response
    }
}

// MARK: - ACL APIs

extension Broker {

    func createAcls(_ request: CreateAclsRequest, connection: ConnectionContext) -> CreateAclsResponse {
        func all(_ code: KafkaErrorCode, _ message: String) -> CreateAclsResponse {
            CreateAclsResponse(
                throttleTimeMs: 0, results: request.creations.map { _ in .init(errorCode: code, errorMessage: message) }
            )
        }
        guard let authorizer else {
            return all(.securityDisabled, "no authorizer is configured (acl-authorizer: false)")
        }
        guard allowed(.alter, .cluster, connection, api: "CreateAcls") else {
            return all(.clusterAuthorizationFailed, "not authorized to alter the cluster's ACLs")
        }
        var bindings: [AclBinding] = []
        var invalid: [Int: String] = [:]
        for (index, creation) in request.creations.enumerated() {
            guard let type = AclResourceType(rawValue: creation.resourceType),
                let pattern = AclPatternType(rawValue: creation.resourcePatternType),
                let operation = AclOperation(rawValue: creation.operation),
                let permission = AclPermissionType(rawValue: creation.permissionType)
            else {
                invalid[index] = "unknown resource type, pattern type, operation or permission"
                continue
            }
            let binding = AclBinding(
                ResourcePattern(type, creation.resourceName, pattern),
                AccessControlEntry(
                    principal: creation.principal, host: creation.host,
                    operation: operation, permission: permission))
            if let problem = binding.validationError { invalid[index] = problem; continue }
            bindings.append(binding)
        }
        let created: [AclCreationResult]
        do {
            created = try authorizer.createAcls(bindings, by: connection.session.principal, host: connection.remoteHost)
        } catch {
            return all(.invalidRequest, "could not store the ACLs: \(error)")
        }
        var results: [CreateAclsResponse.AclCreationResult] = []
        var next = created.makeIterator()
        for index in request.creations.indices {
            if let problem = invalid[index] {
                results.append(.init(errorCode: .invalidRequest, errorMessage: problem))
            } else if let result = next.next() {
                results.append(.init(errorCode: result.errorCode, errorMessage: result.errorMessage))
            }
        }
        return CreateAclsResponse(throttleTimeMs: 0, results: results)
    }

    private static func filter(
        resourceType: Int8, name: String?, patternType: Int8, principal: String?, host: String?,
        operation: Int8, permission: Int8
    ) -> AclBindingFilter? {
        guard let type = AclResourceType(rawValue: resourceType), let pattern = AclPatternType(rawValue: patternType),
            let operation = AclOperation(rawValue: operation), let permission = AclPermissionType(rawValue: permission)
        else { return nil }
        return AclBindingFilter(
            ResourcePatternFilter(type, name, pattern),
            AccessControlEntryFilter(principal: principal, host: host, operation: operation, permission: permission))
    }

    func describeAcls(_ request: DescribeAclsRequest, connection: ConnectionContext) -> DescribeAclsResponse {
        func failed(_ code: KafkaErrorCode, _ message: String) -> DescribeAclsResponse {
            DescribeAclsResponse(throttleTimeMs: 0, errorCode: code, errorMessage: message, resources: [])
        }
        guard let authorizer else {
            return failed(.securityDisabled, "no authorizer is configured (acl-authorizer: false)")
        }
        guard allowed(.describe, .cluster, connection, api: "DescribeAcls") else {
            return failed(.clusterAuthorizationFailed, "not authorized to describe the cluster's ACLs")
        }
        guard
            let filter = Self.filter(
                resourceType: request.resourceTypeFilter, name: request.resourceNameFilter,
                patternType: request.patternTypeFilter, principal: request.principalFilter,
                host: request.hostFilter, operation: request.operation, permission: request.permissionType)
        else {
            return failed(.invalidRequest, "unknown resource type, pattern type, operation or permission in the filter")
        }
        var grouped: [ResourcePattern: [AccessControlEntry]] = [:]
        for binding in authorizer.store.describe(filter) { grouped[binding.pattern, default: []].append(binding.entry) }
        return DescribeAclsResponse(
            throttleTimeMs: 0, errorCode: 0, errorMessage: nil,
            resources: grouped.sorted { "\($0.key)" < "\($1.key)" }.map { pattern, entries in
                .init(
                    resourceType: pattern.resourceType.rawValue, resourceName: pattern.name,
                    patternType: pattern.patternType.rawValue,
                    acls: entries.map {
                        .init(
                            principal: $0.principal, host: $0.host, operation: $0.operation.rawValue,
                            permissionType: $0.permission.rawValue)
                    })
            })
    }

    func deleteAcls(_ request: DeleteAclsRequest, connection: ConnectionContext) -> DeleteAclsResponse {
        func all(_ code: KafkaErrorCode, _ message: String) -> DeleteAclsResponse {
            DeleteAclsResponse(
                throttleTimeMs: 0,
                filterResults: request.filters.map { _ in
                    .init(errorCode: code, errorMessage: message, matchingAcls: [])
                })
        }
        guard let authorizer else {
            return all(.securityDisabled, "no authorizer is configured (acl-authorizer: false)")
        }
        guard allowed(.alter, .cluster, connection, api: "DeleteAcls") else {
            return all(.clusterAuthorizationFailed, "not authorized to alter the cluster's ACLs")
        }
        var filters: [AclBindingFilter] = []
        for wanted in request.filters {
            guard
                let filter = Self.filter(
                    resourceType: wanted.resourceTypeFilter, name: wanted.resourceNameFilter,
                    patternType: wanted.patternTypeFilter, principal: wanted.principalFilter,
                    host: wanted.hostFilter, operation: wanted.operation, permission: wanted.permissionType)
            else {
                return all(.invalidRequest, "unknown resource type, pattern type, operation or permission in a filter")
            }
            filters.append(filter)
        }
        do {
            let results = try authorizer.deleteAcls(
                filters, by: connection.session.principal, host: connection.remoteHost)
            return DeleteAclsResponse(
                throttleTimeMs: 0,
                filterResults: results.map { result in
                    .init(
                        errorCode: result.errorCode, errorMessage: result.errorMessage,
                        matchingAcls: result.deleted.map { binding in
                            .init(
                                errorCode: 0, errorMessage: nil, resourceType: binding.pattern.resourceType.rawValue,
                                resourceName: binding.pattern.name, patternType: binding.pattern.patternType.rawValue,
                                principal: binding.entry.principal, host: binding.entry.host,
                                operation: binding.entry.operation.rawValue,
                                permissionType: binding.entry.permission.rawValue)
                        })
                })
        } catch {
            return all(.invalidRequest, "could not store the ACLs: \(error)")
        }
    }
}
