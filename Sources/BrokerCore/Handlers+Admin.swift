import KafkaProtocol
import LogStorage

/// DescribeConfigs ResourceType and ConfigSource codes.
enum ConfigResourceType: Int8 { case topic = 2, broker = 4 }
enum ConfigSource: Int8 { case dynamicTopic = 1, staticBroker = 4, defaultConfig = 5 }

extension Broker {
    func createTopics(
        _ request: CreateTopicsRequest, version: Int16,
        connection: ConnectionContext = ConnectionContext(id: 0, remoteAddress: "")
    ) -> CreateTopicsResponse {
        let results = request.topics.map { creatable -> CreateTopicsResponse.CreatableTopicResult in
            func failed(_ code: KafkaErrorCode, _ message: String) -> CreateTopicsResponse.CreatableTopicResult {
                .init(name: creatable.name, errorCode: code, errorMessage: message)
            }
            guard mayCreate(creatable.name, connection, api: "CreateTopics") else {
                return failed(.topicAuthorizationFailed, "not authorized to create \(creatable.name)")
            }
            if creatable.replicationFactor != -1 && creatable.replicationFactor != 1 {
                return failed(
                    .invalidReplicationFactor,
                    "replication factor \(creatable.replicationFactor) is larger than the 1 broker available")
            }
            var partitions = creatable.numPartitions == -1 ? config.defaultPartitions : creatable.numPartitions
            if !creatable.assignments.isEmpty {
                if creatable.numPartitions != -1 {
                    return failed(.invalidRequest, "give either a partition count or replica assignments, not both")
                }
                let sorted = creatable.assignments.map(\.partitionIndex).sorted()
                if sorted != Array(0..<Int32(sorted.count))
                    || creatable.assignments.contains(where: { $0.brokerIds != [config.nodeId] })
                {
                    return failed(
                        .invalidReplicaAssignment,
                        "replica assignments must cover partitions 0..n-1, each on broker \(config.nodeId) alone")
                }
                partitions = Int32(sorted.count)
            }
            var configs: [String: String] = [:]
            for entry in creatable.configs {
                guard let value = entry.value else { continue }
                configs[entry.name] = value
            }
            do throws(TopicCreationError) {
                try createTopic(
                    name: creatable.name, partitions: partitions, configs: configs, validateOnly: request.validateOnly)
            } catch {
                switch error {
                case .alreadyExists: return failed(.topicAlreadyExists, "topic '\(creatable.name)' already exists")
                case let .invalid(code, message): return failed(code, message)
                }
            }
            let topicConfigs = TopicConfigs(overrides: configs)
            return .init(
                name: creatable.name, topicId: topic(named: creatable.name)?.id ?? .zero, errorCode: .none,
                errorMessage: nil, numPartitions: partitions, replicationFactor: 1,
                configs: TopicConfigCatalog.definitions.map { definition in
                    .init(
                        name: definition.name, value: topicConfigs.value(definition.name, broker: config),
                        readOnly: false,
                        configSource: (configs[definition.name] != nil ? ConfigSource.dynamicTopic : .defaultConfig)
                            .rawValue,
                        isSensitive: false)
                })
        }
        return CreateTopicsResponse(throttleTimeMs: 0, topics: results)
    }

    func deleteTopics(
        _ request: DeleteTopicsRequest, version: Int16,
        connection: ConnectionContext = ConnectionContext(id: 0, remoteAddress: "")
    ) -> DeleteTopicsResponse {
        // v0-5 name topics in TopicNames; v6 in Topics (by name or by id).
        let targets: [(name: String?, id: KafkaUUID)] =
            version >= 6
            ? request.topics.map { ($0.name, $0.topicId) }
            : request.topicNames.map { ($0, KafkaUUID.zero) }
        let results = targets.map { target -> DeleteTopicsResponse.DeletableTopicResult in
            let name = target.name ?? lock.withLock { topicsById[target.id] }
            if let name, !allowed(.delete, .topic(name), connection, api: "DeleteTopics") {
                return .init(
                    name: name, topicId: target.id, errorCode: .topicAuthorizationFailed,
                    errorMessage: "not authorized to delete \(name)")
            }
            if let name, InternalTopics.isInternal(name) {
                return .init(
                    name: name, topicId: target.id, errorCode: .invalidTopicException,
                    errorMessage: "\(name) is an internal topic and cannot be deleted")
            }
            guard let name, let removed = removeTopic(name) else {
                let code: KafkaErrorCode = target.name == nil ? .unknownTopicId : .unknownTopicOrPartition
                return .init(name: target.name, topicId: target.id, errorCode: code, errorMessage: "no such topic")
            }
            return .init(name: name, topicId: removed.id, errorCode: .none, errorMessage: nil)
        }
        return DeleteTopicsResponse(throttleTimeMs: 0, responses: results)
    }

    /// Unregisters a topic, closes and deletes its logs, persists the change.
    private func removeTopic(_ name: String) -> TopicState? {
        adminLock.withLock {
            let removed: TopicState? = lock.withLock {
                guard let state = topics.removeValue(forKey: name) else { return nil }
                topicsById.removeValue(forKey: state.id)
                return state
            }
            guard let removed else { return nil }
            for partition in removed.partitions {
                partition.watchers.notifyAppend()
                do {
                    try partition.log.close()
                    try storage.deleteLog(topic: name, partition: partition.index)
                } catch {
                    logger.error(
                        "could not delete partition files",
                        metadata: ["partition": "\(name)-\(partition.index)", "error": "\(error)"])
                }
            }
            do { try persistMetadata() } catch {
                logger.error("could not persist topic deletion", metadata: ["topic": "\(name)", "error": "\(error)"])
            }
            logger.info("deleted topic", metadata: ["topic": "\(name)"])
            return removed
        }
    }

    func createPartitions(_ request: CreatePartitionsRequest) -> CreatePartitionsResponse {
        let results = request.topics.map { wanted -> CreatePartitionsResponse.CreatePartitionsTopicResult in
            func result(_ code: KafkaErrorCode, _ message: String? = nil)
                -> CreatePartitionsResponse.CreatePartitionsTopicResult
            {
                .init(name: wanted.name, errorCode: code, errorMessage: message)
            }
            return adminLock.withLock {
                guard let topic = topic(named: wanted.name) else {
                    return result(.unknownTopicOrPartition, "no such topic")
                }
                if InternalTopics.isInternal(wanted.name) {
                    return result(
                        .invalidTopicException, "\(wanted.name) is an internal topic; its partition count is fixed")
                }
                let current = Int32(topic.partitions.count)
                guard wanted.count > current else {
                    return result(
                        .invalidPartitions,
                        "topic has \(current) partitions; the new count \(wanted.count) must be larger")
                }
                if let assignments = wanted.assignments,
                    assignments.contains(where: { $0.brokerIds != [config.nodeId] })
                {
                    return result(.invalidReplicaAssignment, "every partition must be on broker \(config.nodeId)")
                }
                if request.validateOnly { return result(.none) }
                let logConfig = topic.configs.logConfig(broker: config)
                var added: [PartitionState] = []
                do {
                    for index in current..<wanted.count {
                        let log = try storage.openLog(
                            topic: wanted.name, partition: index, config: logConfig, now: now())
                        added.append(
                            PartitionState(
                                topic: wanted.name, index: index, log: log, mirrorSource: topic.configs.mirrorSource,
                                fence: topic.configs.fence))
                    }
                } catch {
                    return result(.kafkaStorageError, "could not create partition logs: \(error)")
                }
                lock.withLock { topic.partitions.append(contentsOf: added) }
                do { try persistMetadata() } catch { return result(.kafkaStorageError, "could not persist: \(error)") }
                logger.info("added partitions", metadata: ["topic": "\(wanted.name)", "partitions": "\(wanted.count)"])
                return result(.none)
            }
        }
        return CreatePartitionsResponse(throttleTimeMs: 0, results: results)
    }

    func deleteRecords(_ request: DeleteRecordsRequest) -> DeleteRecordsResponse {
        let topics = request.topics.map { topic in
            DeleteRecordsResponse.DeleteRecordsTopicResult(
                name: topic.name,
                partitions: topic.partitions.map { wanted in
                    func result(_ low: Int64, _ code: KafkaErrorCode)
                        -> DeleteRecordsResponse.DeleteRecordsPartitionResult
                    {
                        .init(partitionIndex: wanted.partitionIndex, lowWatermark: low, errorCode: code)
                    }
                    guard let partition = partition(topic.name, wanted.partitionIndex) else {
                        return result(-1, .unknownTopicOrPartition)
                    }
                    let log = partition.log
                    // -1 means "up to the high watermark".
                    let target = wanted.offset == -1 ? log.logEndOffset : wanted.offset
                    guard target >= 0, target <= log.logEndOffset else {
                        return result(log.logStartOffset, .offsetOutOfRange)
                    }
                    do {
                        return result(try log.deleteRecords(before: target), .none)
                    } catch {
                        logger.error(
                            "delete records failed",
                            metadata: ["partition": "\(topic.name)-\(wanted.partitionIndex)", "error": "\(error)"])
                        return result(log.logStartOffset, .kafkaStorageError)
                    }
                })
        }
        return DeleteRecordsResponse(throttleTimeMs: 0, topics: topics)
    }

    func initProducerId(_ request: InitProducerIdRequest) -> InitProducerIdResponse {
        if request.transactionalId != nil {
            // Fatal for every client (see findCoordinator); the response has no message field.
            return InitProducerIdResponse(
                throttleTimeMs: 0, errorCode: .transactionalIdAuthorizationFailed,
                producerId: -1, producerEpoch: -1)
        }
        // KIP-360: a producer that already has an id asks for an epoch bump to reset its sequences.
        if request.producerId >= 0 {
            if request.producerEpoch < Int16.max - 1 {
                return InitProducerIdResponse(
                    throttleTimeMs: 0, errorCode: .none,
                    producerId: request.producerId, producerEpoch: request.producerEpoch + 1)
            }
        }
        do {
            let id = try allocateProducerId()
            return InitProducerIdResponse(throttleTimeMs: 0, errorCode: .none, producerId: id, producerEpoch: 0)
        } catch {
            logger.error("could not persist producer id block", metadata: ["error": "\(error)"])
            return InitProducerIdResponse(
                throttleTimeMs: 0, errorCode: .kafkaStorageError, producerId: -1, producerEpoch: -1)
        }
    }
}
