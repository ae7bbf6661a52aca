import KafkaProtocol
import NIOCore

extension Broker {
    /// The APIs this broker advertises: every implemented one, minus StraitMirrorAppend when
    /// `mirror-api` is off.
    var advertisedAPIs: [(APIKey, ClosedRange<Int16>)] {
        config.mirrorAPI ? SupportedAPIs.versions : SupportedAPIs.versions.filter { $0.0 != .straitMirrorAppend }
    }

    func apiVersionsList() -> [ApiVersionsResponse.ApiVersion] {
        advertisedAPIs.map { key, range in
            ApiVersionsResponse.ApiVersion(
                apiKey: key.rawValue, minVersion: range.lowerBound, maxVersion: range.upperBound)
        }
    }

    func apiVersions(_ request: ApiVersionsRequest) -> ApiVersionsResponse {
        ApiVersionsResponse(errorCode: .none, apiKeys: apiVersionsList(), throttleTimeMs: 0)
    }

    /// KIP-511: a client asked for an ApiVersions version we don't support. Answer in the v0
    /// layout (header v0, INT32-counted array, no throttle time) with UNSUPPORTED_VERSION and our
    /// full list, so the client can retry with a version we have.
    func apiVersionsFallback(correlationId: Int32) -> ByteBuffer {
        let advertised = advertisedAPIs
        var buffer = allocator.buffer(capacity: 16 + 6 * advertised.count)
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(correlationId)
        buffer.writeInteger(KafkaErrorCode.unsupportedVersion.rawValue)
        buffer.writeInteger(Int32(advertised.count))
        for (key, range) in advertised {
            buffer.writeInteger(key.rawValue)
            buffer.writeInteger(range.lowerBound)
            buffer.writeInteger(range.upperBound)
        }
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }

    /// The address a client on `connection` is told to use for this broker.
    func advertisedAddress(_ connection: ConnectionContext) -> (host: String, port: Int32) {
        connection.advertised ?? (config.advertisedHost, config.advertisedPort)
    }

    func metadataTopic(_ topic: TopicState) -> MetadataResponse.MetadataResponseTopic {
        MetadataResponse.MetadataResponseTopic(
            errorCode: .none,
            name: topic.name,
            topicId: topic.id,
            isInternal: InternalTopics.isInternal(topic.name),
            partitions: topic.partitions.map { partition in
                MetadataResponse.MetadataResponsePartition(
                    errorCode: .none, partitionIndex: partition.index, leaderId: config.nodeId,
                    leaderEpoch: 0, replicaNodes: [config.nodeId], isrNodes: [config.nodeId], offlineReplicas: [])
            })
    }

    func metadata(_ request: MetadataRequest, version: Int16, connection: ConnectionContext) -> MetadataResponse {
        var responseTopics: [MetadataResponse.MetadataResponseTopic] = []
        // v0: an empty list means all topics; v1+: null means all, empty means none.
        let wantsAll = request.topics == nil || (version == 0 && request.topics?.isEmpty == true)
        let describable = topicPermission(.describe, connection, api: "Metadata", audit: !wantsAll)
        if wantsAll {
            responseTopics = allTopics().filter { describable($0.name) }.map(metadataTopic)
        } else {
            // Auto-creation: v4+ carries the client's wish; older versions always allowed it.
            let allowAutoCreate = version >= 4 ? request.allowAutoTopicCreation : true
            for requested in request.topics ?? [] {
                var name = requested.name
                if name == nil, requested.topicId != KafkaUUID.zero {
                    name = lock.withLock { topicsById[requested.topicId] }
                    if name == nil {
                        responseTopics.append(.init(errorCode: .unknownTopicId, name: nil, topicId: requested.topicId))
                        continue
                    }
                }
                guard let name else {
                    responseTopics.append(.init(errorCode: .invalidRequest, name: nil))
                    continue
                }
                if let problem = TopicNames.problem(with: name) {
                    logger.debug("metadata for invalid topic name", metadata: ["reason": "\(problem)"])
                    responseTopics.append(.init(errorCode: .invalidTopicException, name: name))
                    continue
                }
                guard describable(name) else {
                    responseTopics.append(.init(errorCode: .topicAuthorizationFailed, name: name))
                    continue
                }
                let (topic, code) = topicForWrite(
                    name,
                    autoCreate: allowAutoCreate
                        && (topic(named: name) != nil || mayCreate(name, connection, api: "Metadata")))
                if let topic {
                    responseTopics.append(metadataTopic(topic))
                } else {
                    responseTopics.append(.init(errorCode: code, name: name))
                }
            }
        }
        return MetadataResponse(
            throttleTimeMs: 0,
            brokers: [
                .init(
                    nodeId: config.nodeId, host: advertisedAddress(connection).host,
                    port: advertisedAddress(connection).port, rack: nil)
            ],
            clusterId: clusterId, controllerId: config.nodeId, topics: responseTopics)
    }

    func findCoordinator(_ request: FindCoordinatorRequest, version: Int16, connection: ConnectionContext)
        -> FindCoordinatorResponse
    {
        let (host, port) = advertisedAddress(connection)
        if request.keyType == 0 {
            let keys = version >= 4 ? request.coordinatorKeys : [request.key]
            if let denied = keys.first(where: { groupDenied($0, .describe, connection, api: "FindCoordinator") }) {
                let code = KafkaErrorCode.groupAuthorizationFailed
                let message = "not authorized to describe group \(denied)"
                if version >= 4 {
                    return FindCoordinatorResponse(
                        throttleTimeMs: 0,
                        coordinators: keys.map { key in
                            let ok = !groupDenied(key, .describe, connection, api: "FindCoordinator")
                            return FindCoordinatorResponse.Coordinator(
                                key: key, nodeId: ok ? config.nodeId : -1, host: ok ? host : "", port: ok ? port : -1,
                                errorCode: ok ? 0 : code,
                                errorMessage: ok ? nil : "not authorized to describe group \(key)")
                        })
                }
                return FindCoordinatorResponse(
                    throttleTimeMs: 0, errorCode: code, errorMessage: message,
                    nodeId: -1, host: "", port: -1)
            }
        }
        // Key type 0 is a consumer group (this broker coordinates all of them); 1 is a
        // transactional id, and transactions are not supported. The answer for those must be
        // an error both the Java client and librdkafka treat as fatal at once:
        // COORDINATOR_NOT_AVAILABLE is retriable (they retry until their own timeout, 60 s for
        // Java), while TRANSACTIONAL_ID_AUTHORIZATION_FAILED fails initTransactions() at once in
        // both. The message says why (librdkafka shows it; the Java client shows only its own text
        // for the code, "Transactional Id authorization failed.", so the broker logs the refusal).
        let supported = request.keyType == 0
        let code: KafkaErrorCode = supported ? .none : .transactionalIdAuthorizationFailed
        let message: String? = supported ? nil : Self.transactionsUnsupported
        if !supported {
            let ids = version >= 4 ? request.coordinatorKeys : [request.key]
            logger.notice(
                "transactional producer refused: transactions are not supported",
                metadata: [
                    "transactional-ids": "\(ids)", "client": "\(connection.remoteAddress)"
                ])
        }
        if version >= 4 {
            return FindCoordinatorResponse(
                throttleTimeMs: 0,
                coordinators: request.coordinatorKeys.map { key in
                    FindCoordinatorResponse.Coordinator(
                        key: key, nodeId: supported ? config.nodeId : -1, host: supported ? host : "",
                        port: supported ? port : -1, errorCode: code, errorMessage: message)
                })
        }
        return FindCoordinatorResponse(
            throttleTimeMs: 0, errorCode: code, errorMessage: message,
            nodeId: supported ? config.nodeId : -1, host: supported ? host : "", port: supported ? port : -1)
    }

    func describeCluster(_ request: DescribeClusterRequest, version: Int16, connection: ConnectionContext)
        -> DescribeClusterResponse
    {
        let (host, port) = advertisedAddress(connection)
        // EndpointType 1 = brokers; 2 = controllers (KIP-919), which a single-node broker also is.
        return DescribeClusterResponse(
            throttleTimeMs: 0, errorCode: .none, errorMessage: nil, endpointType: request.endpointType,
            clusterId: clusterId, controllerId: config.nodeId,
            brokers: [.init(brokerId: config.nodeId, host: host, port: port, rack: nil)])
    }
}
