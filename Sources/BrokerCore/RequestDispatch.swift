import GroupCoordination
import KafkaProtocol
import NIOCore

/// The API versions this broker advertises. Only keys that are implemented are listed: clients
/// take an unlisted key as "unsupported" and use their fallbacks.
public enum SupportedAPIs {
    public static let versions: [(APIKey, ClosedRange<Int16>)] = [
        // Produce v0-2 are advertised (old librdkafka enables compression only when the range
        // contains v0) but answered with UNSUPPORTED_VERSION, as Kafka 4.0 does.
        (.produce, 0...11),
        (.fetch, 4...12),
        (.listOffsets, 1...9),
        (.metadata, 0...12),
        // Needed by librdkafka < 2.11.1 to enable LZ4; the broker is its own coordinator.
        (.findCoordinator, 0...6),
        (.apiVersions, 0...4),
        (.createTopics, 0...7),
        (.deleteTopics, 0...6),
        (.deleteRecords, 0...2),
        (.initProducerId, 0...5),
        (.describeConfigs, 0...4),
        (.alterConfigs, 0...2),
        (.createPartitions, 0...3),
        (.incrementalAlterConfigs, 0...1),
        (.describeCluster, 0...1),
        // SASL: after a SaslHandshake v0 the tokens travel raw (length-prefixed, no request
        // header); v1 wraps them in SaslAuthenticate.
        (.saslHandshake, 0...1),
        (.createAcls, 0...3),
        (.describeAcls, 0...3),
        (.deleteAcls, 0...3),
        (.saslAuthenticate, 0...2),
        (.describeUserScramCredentials, 0...0),
        (.alterUserScramCredentials, 0...0),
        // Strait-only (key 20000): the replicator's offset-preserving append into mirror topics.
        (.straitMirrorAppend, 0...0),
    ] + GroupCoordinator.supportedVersions

    static let byKey: [Int16: ClosedRange<Int16>] = Dictionary(uniqueKeysWithValues: versions.map { ($0.0.rawValue, $0.1) })
}

extension Broker {
    /// Handles one request frame (without its 4-byte length prefix).
    public func handle(frame: ByteBuffer, connection: ConnectionContext) async -> RequestOutcome {
        if connection.session.framing.expectsRawSaslTokens { return rawSaslToken(frame, connection: connection) }
        var body = frame
        let header: RequestHeader
        do {
            header = try RequestHeader.decode(from: &body)
        } catch {
            return .closeConnection(reason: "malformed request header: \(error)")
        }
        guard let key = APIKey(rawValue: header.apiKey), let range = SupportedAPIs.byKey[header.apiKey],
              key != .straitMirrorAppend || config.mirrorAPI else {
            return .closeConnection(reason: "unsupported API key \(header.apiKey) (correlation id \(header.correlationId))")
        }
        if let refusal = sessionRefusal(key, connection: connection) { return .closeConnection(reason: refusal) }
        guard range.contains(header.apiVersion) else {
            if key == .apiVersions { return .respond(apiVersionsFallback(correlationId: header.correlationId)) }
            return .closeConnection(reason: "unsupported version \(header.apiVersion) of \(key) (supported \(range.lowerBound)-\(range.upperBound))")
        }
        do {
            switch key {
            case .apiVersions: return try run(ApiVersionsRequest.self, header, &body) { r, _ in self.apiVersions(r) }
            case .metadata: return try run(MetadataRequest.self, header, &body) { r, v in self.metadata(r, version: v, connection: connection) }
            case .produce:
                let request = try ProduceRequest(from: &body, version: header.apiVersion)
                let response = produce(request, version: header.apiVersion, connection: connection)
                if request.acks == 0 { return .noResponse }
                return .respond(try encode(response, header: header, key: .produce))
            case .fetch:
                let request = try FetchRequest(from: &body, version: header.apiVersion)
                let response = await fetch(request, version: header.apiVersion, connection: connection)
                return .respond(try encode(response, header: header, key: .fetch))
            case .listOffsets: return try run(ListOffsetsRequest.self, header, &body) { r, v in self.listOffsets(r, version: v, connection: connection) }
            case .findCoordinator: return try run(FindCoordinatorRequest.self, header, &body) { r, v in self.findCoordinator(r, version: v, connection: connection) }
            case .createTopics:
                return try run(CreateTopicsRequest.self, header, &body) { r, v in
                    let response = self.createTopics(r, version: v, connection: connection)
                    if !r.validateOnly {
                        for result in response.topics { self.auditAdmin("CreateTopics", "CREATE_TOPIC", "TOPIC:\(result.name)", errorCode: result.errorCode, connection, detail: result.errorMessage) }
                    }
                    return response
                }
            case .deleteTopics:
                return try run(DeleteTopicsRequest.self, header, &body) { r, v in
                    let response = self.deleteTopics(r, version: v, connection: connection)
                    for result in response.responses { self.auditAdmin("DeleteTopics", "DELETE_TOPIC", "TOPIC:\(result.name ?? "\(result.topicId)")", errorCode: result.errorCode, connection, detail: result.errorMessage) }
                    return response
                }
            case .deleteRecords:
                var request = try DeleteRecordsRequest(from: &body, version: header.apiVersion)
                let deletable = topicPermission(.delete, connection, api: "DeleteRecords")
                let denied = request.topics.filter { !deletable($0.name) }
                request.topics = request.topics.filter { deletable($0.name) }
                var response = deleteRecords(request)
                response.topics += denied.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map {
                        .init(partitionIndex: $0.partitionIndex, lowWatermark: -1, errorCode: .topicAuthorizationFailed) })
                }
                for topic in response.topics {
                    for partition in topic.partitions {
                        auditAdmin("DeleteRecords", "DELETE_RECORDS", "TOPIC:\(topic.name)-\(partition.partitionIndex) below \(partition.lowWatermark)", errorCode: partition.errorCode, connection)
                    }
                }
                return .respond(try encode(response, header: header, key: .deleteRecords))
            case .initProducerId:
                return try run(InitProducerIdRequest.self, header, &body) { r, _ in
                    if let denial = self.initProducerIdDenial(r, connection) {
                        return InitProducerIdResponse(throttleTimeMs: 0, errorCode: denial, producerId: -1, producerEpoch: -1)
                    }
                    return self.initProducerId(r)
                }
            case .describeConfigs:
                let request = try DescribeConfigsRequest(from: &body, version: header.apiVersion)
                let results = servePermitted(
                    request.resources,
                    permitted: { configAllowed($0.resourceType, $0.resourceName, .describeConfigs, connection, "DescribeConfigs") },
                    serve: { allowed in
                        var allowedRequest = request
                        allowedRequest.resources = allowed
                        return describeConfigs(allowedRequest, version: header.apiVersion).results
                    },
                    denied: { DescribeConfigsResponse.DescribeConfigsResult(errorCode: Self.configDenial($0.resourceType),
                                    errorMessage: "not authorized to describe the configs of \($0.resourceName)",
                                    resourceType: $0.resourceType, resourceName: $0.resourceName, configs: []) })
                return .respond(try encode(DescribeConfigsResponse(throttleTimeMs: 0, results: results), header: header, key: .describeConfigs))
            case .alterConfigs:
                let request = try AlterConfigsRequest(from: &body, version: header.apiVersion)
                let responses = servePermitted(
                    request.resources,
                    permitted: { configAllowed($0.resourceType, $0.resourceName, .alterConfigs, connection, "AlterConfigs") },
                    serve: { allowed in
                        var allowedRequest = request
                        allowedRequest.resources = allowed
                        return alterConfigs(allowedRequest).responses
                    },
                    denied: { AlterConfigsResponse.AlterConfigsResourceResponse(errorCode: Self.configDenial($0.resourceType),
                                    errorMessage: "not authorized to alter the configs of \($0.resourceName)",
                                    resourceType: $0.resourceType, resourceName: $0.resourceName) })
                if !request.validateOnly {
                    auditConfigChanges("AlterConfigs", responses.map { ($0.resourceType, $0.resourceName, $0.errorCode, $0.errorMessage) }, connection)
                }
                return .respond(try encode(AlterConfigsResponse(throttleTimeMs: 0, responses: responses), header: header, key: .alterConfigs))
            case .incrementalAlterConfigs:
                let request = try IncrementalAlterConfigsRequest(from: &body, version: header.apiVersion)
                let responses = servePermitted(
                    request.resources,
                    permitted: { configAllowed($0.resourceType, $0.resourceName, .alterConfigs, connection, "IncrementalAlterConfigs") },
                    serve: { allowed in
                        var allowedRequest = request
                        allowedRequest.resources = allowed
                        return incrementalAlterConfigs(allowedRequest).responses
                    },
                    denied: { IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(errorCode: Self.configDenial($0.resourceType),
                                    errorMessage: "not authorized to alter the configs of \($0.resourceName)",
                                    resourceType: $0.resourceType, resourceName: $0.resourceName) })
                if !request.validateOnly {
                    auditConfigChanges("IncrementalAlterConfigs", responses.map { ($0.resourceType, $0.resourceName, $0.errorCode, $0.errorMessage) }, connection)
                }
                return .respond(try encode(IncrementalAlterConfigsResponse(throttleTimeMs: 0, responses: responses), header: header, key: .incrementalAlterConfigs))
            case .createPartitions:
                var request = try CreatePartitionsRequest(from: &body, version: header.apiVersion)
                let alterable = topicPermission(.alter, connection, api: "CreatePartitions")
                let denied = request.topics.filter { !alterable($0.name) }
                request.topics = request.topics.filter { alterable($0.name) }
                var response = createPartitions(request)
                response.results += denied.map {
                    .init(name: $0.name, errorCode: .topicAuthorizationFailed, errorMessage: "not authorized to alter \($0.name)") }
                if !request.validateOnly {
                    for result in response.results { auditAdmin("CreatePartitions", "CREATE_PARTITIONS", "TOPIC:\(result.name)", errorCode: result.errorCode, connection, detail: result.errorMessage) }
                }
                return .respond(try encode(response, header: header, key: .createPartitions))
            case .describeCluster:
                return try run(DescribeClusterRequest.self, header, &body) { r, v in
                    guard self.allowed(.describe, .cluster, connection, api: "DescribeCluster") else {
                        return DescribeClusterResponse(throttleTimeMs: 0, errorCode: .clusterAuthorizationFailed,
                                                       errorMessage: "not authorized to describe the cluster", endpointType: r.endpointType,
                                                       clusterId: "", controllerId: -1, brokers: [])
                    }
                    return self.describeCluster(r, version: v, connection: connection)
                }
            case .straitMirrorAppend:
                var request = try StraitMirrorAppendRequest(from: &body, version: header.apiVersion)
                let writable = topicPermission(.write, connection, api: "StraitMirrorAppend")
                let denied = request.topics.filter { !writable($0.name) }
                request.topics = request.topics.filter { writable($0.name) }
                var response = mirrorAppend(request)
                response.topics += denied.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map {
                        .init(partitionIndex: $0.partitionIndex, errorCode: .topicAuthorizationFailed,
                              errorMessage: "not authorized to write to \(topic.name)", logEndOffset: -1, logStartOffset: -1,
                              appendedBatches: 0, skippedBatches: 0) })
                }
                return .respond(try encode(response, header: header, key: .straitMirrorAppend))
            case .createAcls: return try run(CreateAclsRequest.self, header, &body) { r, _ in self.createAcls(r, connection: connection) }
            case .describeAcls: return try run(DescribeAclsRequest.self, header, &body) { r, _ in self.describeAcls(r, connection: connection) }
            case .deleteAcls: return try run(DeleteAclsRequest.self, header, &body) { r, _ in self.deleteAcls(r, connection: connection) }
            case .saslHandshake:
                let request = try SaslHandshakeRequest(from: &body, version: header.apiVersion)
                let (response, close) = saslHandshake(request, version: header.apiVersion, connection: connection)
                let frame = try encode(response, header: header, key: .saslHandshake)
                return close ? .respondAndClose(frame, reason: "SaslHandshake in the middle of a SASL exchange (ILLEGAL_SASL_STATE)") : .respond(frame)
            case .saslAuthenticate:
                let request = try SaslAuthenticateRequest(from: &body, version: header.apiVersion)
                let (response, close) = saslAuthenticate(request, connection: connection)
                let frame = try encode(response, header: header, key: .saslAuthenticate)
                return close ? .respondAndClose(frame, reason: "SASL authentication failed: \(response.errorMessage ?? "")") : .respond(frame)
            case .describeUserScramCredentials:
                return try run(DescribeUserScramCredentialsRequest.self, header, &body) { r, _ in
                    guard self.allowed(.describe, .cluster, connection, api: "DescribeUserScramCredentials") else {
                        return DescribeUserScramCredentialsResponse(throttleTimeMs: 0, errorCode: .clusterAuthorizationFailed,
                                                                    errorMessage: "not authorized to describe users", results: [])
                    }
                    return self.describeUserScramCredentials(r)
                }
            case .alterUserScramCredentials:
                return try run(AlterUserScramCredentialsRequest.self, header, &body) { r, _ in
                    guard self.allowed(.alter, .cluster, connection, api: "AlterUserScramCredentials") else {
                        let users = Set(r.deletions.map(\.name) + r.upsertions.map(\.name)).sorted()
                        return AlterUserScramCredentialsResponse(throttleTimeMs: 0, results: users.map {
                            .init(user: $0, errorCode: .clusterAuthorizationFailed, errorMessage: "not authorized to alter users") })
                    }
                    let response = self.alterUserScramCredentials(r, connection: connection)
                    for result in response.results { self.auditAdmin("AlterUserScramCredentials", "ALTER_USER", "USER:\(result.user)", errorCode: result.errorCode, connection, detail: result.errorMessage) }
                    return response
                }
            case .joinGroup:
                let request = try JoinGroupRequest(from: &body, version: header.apiVersion)
                if groupDenied(request.groupId, .read, connection, api: "JoinGroup") {
                    return .respond(try encode(GroupStateMachine.joinError(.groupAuthorizationFailed, memberId: request.memberId), header: header, key: .joinGroup))
                }
                let response = await groups.handle(request, version: header.apiVersion, client: clientInfo(header, connection))
                return .respond(try encode(response, header: header, key: .joinGroup))
            case .syncGroup:
                let request = try SyncGroupRequest(from: &body, version: header.apiVersion)
                if groupDenied(request.groupId, .read, connection, api: "SyncGroup") {
                    return .respond(try encode(GroupStateMachine.syncError(.groupAuthorizationFailed), header: header, key: .syncGroup))
                }
                let response = await groups.handle(request, version: header.apiVersion)
                return .respond(try encode(response, header: header, key: .syncGroup))
            case .heartbeat:
                return try run(HeartbeatRequest.self, header, &body) { r, v in
                    self.groupDenied(r.groupId, .read, connection, api: "Heartbeat")
                        ? HeartbeatResponse(errorCode: .groupAuthorizationFailed) : self.groups.handle(r, version: v)
                }
            case .leaveGroup:
                return try run(LeaveGroupRequest.self, header, &body) { r, v in
                    self.groupDenied(r.groupId, .read, connection, api: "LeaveGroup")
                        ? LeaveGroupResponse(errorCode: .groupAuthorizationFailed) : self.groups.handle(r, version: v)
                }
            case .offsetCommit: return try run(OffsetCommitRequest.self, header, &body) { r, v in self.authorizedOffsetCommit(r, version: v, connection: connection) }
            case .offsetFetch: return try run(OffsetFetchRequest.self, header, &body) { r, v in self.authorizedOffsetFetch(r, version: v, connection: connection) }
            case .offsetDelete:
                return try run(OffsetDeleteRequest.self, header, &body) { r, v in
                    self.groupDenied(r.groupId, .delete, connection, api: "OffsetDelete")
                        ? OffsetDeleteResponse(errorCode: .groupAuthorizationFailed, throttleTimeMs: 0, topics: [])
                        : self.groups.handle(r, version: v)
                }
            case .listGroups:
                return try run(ListGroupsRequest.self, header, &body) { r, v in
                    var response = self.groups.handle(r, version: v)
                    response.groups = response.groups.filter { self.allowed(.describe, .group($0.groupId), connection, api: "ListGroups", audit: false) }
                    return response
                }
            case .describeGroups:
                return try run(DescribeGroupsRequest.self, header, &body) { r, v in
                    var response = self.groups.handle(r, version: v)
                    response.groups = response.groups.map { group in
                        guard self.groupDenied(group.groupId, .describe, connection, api: "DescribeGroups") else { return group }
                        return DescribeGroupsResponse.DescribedGroup(errorCode: .groupAuthorizationFailed, groupId: group.groupId,
                                                                     groupState: "", protocolType: "", protocolData: "", members: [])
                    }
                    return response
                }
            case .deleteGroups:
                return try run(DeleteGroupsRequest.self, header, &body) { r, v in
                    let denied = Set(r.groupsNames.filter { self.groupDenied($0, .delete, connection, api: "DeleteGroups") })
                    var allowedRequest = r
                    allowedRequest.groupsNames = r.groupsNames.filter { !denied.contains($0) }
                    var response = self.groups.handle(allowedRequest, version: v)
                    response.results += denied.sorted().map { .init(groupId: $0, errorCode: .groupAuthorizationFailed) }
                    for result in response.results where !denied.contains(result.groupId) {
                        self.auditAdmin("DeleteGroups", "DELETE_GROUP", "GROUP:\(result.groupId)", errorCode: result.errorCode, connection)
                    }
                    return response
                }
            default:
                return .closeConnection(reason: "API \(key) is advertised but has no handler")
            }
        } catch {
            return .closeConnection(reason: "malformed \(key) v\(header.apiVersion) request (correlation id \(header.correlationId)): \(error)")
        }
    }

    /// The error for a config resource the principal may not touch: topic or cluster.
    static func configDenial(_ resourceType: Int8) -> KafkaErrorCode {
        resourceType == 2 ? .topicAuthorizationFailed : .clusterAuthorizationFailed
    }

    private func run<Request: KafkaRequestMessage>(
        _ type: Request.Type, _ header: RequestHeader, _ body: inout ByteBuffer,
        _ handler: (Request, Int16) throws -> Request.Response
    ) throws -> RequestOutcome {
        let request = try Request(from: &body, version: header.apiVersion)
        let response = try handler(request, header.apiVersion)
        return .respond(try encode(response, header: header, key: Request.apiKey))
    }

    /// Frames a response: length prefix, response header (v0 or v1), body.
    func encode<Response: KafkaMessage>(_ response: Response, header: RequestHeader, key: APIKey) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeInteger(Int32(0))
        ResponseHeader.encode(correlationId: header.correlationId,
                              headerVersion: key.responseHeaderVersion(apiVersion: header.apiVersion), into: &buffer)
        try response.encode(into: &buffer, version: header.apiVersion)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}
