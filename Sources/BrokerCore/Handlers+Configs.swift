import KafkaProtocol
import LogStorage

extension Broker {
    /// Broker-level settings shown by DescribeConfigs (read-only: they come from the config file).
    func brokerConfigEntries() -> [(String, String)] {
        let flush: String
        switch config.log.flushPolicy {
        case .everyBatch: flush = "0"
        case let .interval(milliseconds): flush = "\(milliseconds)"
        }
        return [
            ("broker.id", "\(config.nodeId)"),
            ("node.id", "\(config.nodeId)"),
            ("auto.create.topics.enable", "\(config.autoCreateTopics)"),
            ("num.partitions", "\(config.defaultPartitions)"),
            ("default.replication.factor", "1"),
            ("log.retention.ms", "\(config.log.retentionMs)"),
            ("log.retention.bytes", "\(config.log.retentionBytes)"),
            ("log.segment.bytes", "\(config.log.segmentBytes)"),
            ("log.roll.ms", "\(config.log.segmentMs)"),
            ("log.flush.interval.ms", flush),
            ("log.retention.check.interval.ms", "\(config.retentionCheckIntervalMs)"),
            ("message.max.bytes", "\(config.messageMaxBytes)"),
            ("socket.request.max.bytes", "\(config.maxRequestBytes)"),
            ("min.insync.replicas", "1"),
            ("offsets.retention.minutes", "\(config.groupCoordinator.offsetsRetentionMs / 60_000)"),
            ("offsets.retention.check.interval.ms", "\(config.groupCoordinator.offsetsRetentionCheckIntervalMs)"),
            ("sasl.enabled.mechanisms", config.saslMechanisms.map(\.rawValue).joined(separator: ",")),
            ("connections.max.reauth.ms", "\(config.connectionsMaxReauthMs)"),
            ("sasl.server.max.receive.size", "\(config.saslMaxReceiveBytes)")
        ]
    }

    func describeConfigs(_ request: DescribeConfigsRequest, version: Int16) -> DescribeConfigsResponse {
        let results = request.resources.map { resource -> DescribeConfigsResponse.DescribeConfigsResult in
            func failed(_ code: KafkaErrorCode, _ message: String) -> DescribeConfigsResponse.DescribeConfigsResult {
                .init(
                    errorCode: code, errorMessage: message, resourceType: resource.resourceType,
                    resourceName: resource.resourceName, configs: [])
            }
            func wanted(_ name: String) -> Bool { resource.configurationKeys.map { $0.contains(name) } ?? true }
            switch ConfigResourceType(rawValue: resource.resourceType) {
            case .topic:
                guard let topic = topic(named: resource.resourceName) else {
                    return failed(.unknownTopicOrPartition, "no such topic '\(resource.resourceName)'")
                }
                let configs = TopicConfigCatalog.definitions.filter { wanted($0.name) }.map { definition in
                    let isOverride = topic.configs.overrides[definition.name] != nil
                    return DescribeConfigsResponse.DescribeConfigsResourceResult(
                        name: definition.name, value: topic.configs.value(definition.name, broker: config),
                        readOnly: false,
                        isDefault: !isOverride,
                        configSource: (isOverride ? ConfigSource.dynamicTopic : .defaultConfig).rawValue,
                        isSensitive: false, synonyms: [], configType: definition.type.rawValue,
                        documentation: request.includeDocumentation ? definition.documentation : nil)
                }
                return .init(
                    errorCode: .none, errorMessage: nil, resourceType: resource.resourceType,
                    resourceName: resource.resourceName, configs: configs)
            case .broker:
                guard resource.resourceName.isEmpty || resource.resourceName == "\(config.nodeId)" else {
                    return failed(
                        .invalidRequest, "this broker is node \(config.nodeId), not '\(resource.resourceName)'")
                }
                let configs = brokerConfigEntries().filter { wanted($0.0) }.map { name, value in
                    DescribeConfigsResponse.DescribeConfigsResourceResult(
                        name: name, value: value, readOnly: true, isDefault: false,
                        configSource: ConfigSource.staticBroker.rawValue,
                        isSensitive: false, synonyms: [], configType: 0, documentation: nil)
                }
                return .init(
                    errorCode: .none, errorMessage: nil, resourceType: resource.resourceType,
                    resourceName: resource.resourceName, configs: configs)
            case nil:
                return failed(
                    .invalidRequest, "resource type \(resource.resourceType) is not supported (topics and brokers are)")
            }
        }
        return DescribeConfigsResponse(throttleTimeMs: 0, results: results)
    }

    /// Replaces a topic's overrides (after validating every entry) and reconfigures its logs.
    /// Returns nil on success, or the error to report.
    private func applyTopicConfigs(
        topicName: String, resourceType: Int8, validateOnly: Bool,
        change: (inout [String: String]) -> (KafkaErrorCode, String)?
    ) -> (KafkaErrorCode, String)? {
        guard ConfigResourceType(rawValue: resourceType) == .topic else {
            if ConfigResourceType(rawValue: resourceType) == .broker {
                return (
                    .invalidRequest, "broker configs are read-only at run time; set them in the broker's config file"
                )
            }
            return (.invalidRequest, "resource type \(resourceType) is not supported")
        }
        return adminLock.withLock {
            guard let topic = topic(named: topicName) else {
                return (.unknownTopicOrPartition, "no such topic '\(topicName)'")
            }
            var overrides = topic.configs.overrides
            if let problem = change(&overrides) { return problem }
            for (name, value) in overrides {
                if let problem = TopicConfigCatalog.problem(name: name, value: value) {
                    return (.invalidConfig, problem)
                }
            }
            let (oldFence, fence) = (topic.configs.fence, overrides[TopicConfigs.fencedKey])
            if fence != nil, InternalTopics.isInternal(topic.name) {
                return (.invalidConfig, "\(topic.name) is an internal topic; it cannot be fenced")
            }
            if let problem = applyMirrorChange(
                topic: topic, from: topic.configs.mirrorSource,
                to: overrides[TopicConfigs.mirrorSourceKey], validateOnly: validateOnly)
            {
                return problem
            }
            if validateOnly { return nil }
            let newConfigs = TopicConfigs(overrides: overrides)
            let logConfig = newConfigs.logConfig(broker: config)
            lock.withLock { topic.configs = newConfigs }
            for partition in topic.partitions {
                partition.log.updateConfig(logConfig)
                partition.setFence(fence)
            }
            if fence != oldFence {
                if let fence {
                    logger.info("topic fenced", metadata: ["topic": "\(topicName)", "fence": "\(fence)"])
                } else {
                    logger.info("topic unfenced", metadata: ["topic": "\(topicName)", "fence": "\(oldFence ?? "")"])
                }
            }
            do { try persistMetadata() } catch { return (.kafkaStorageError, "could not persist configs: \(error)") }
            logger.info("topic configs changed", metadata: ["topic": "\(topicName)", "overrides": "\(overrides)"])
            return nil
        }
    }

    func alterConfigs(_ request: AlterConfigsRequest) -> AlterConfigsResponse {
        let responses = request.resources.map { resource in
            // AlterConfigs replaces the whole set: keys not listed go back to their defaults.
            let problem = applyTopicConfigs(
                topicName: resource.resourceName, resourceType: resource.resourceType,
                validateOnly: request.validateOnly
            ) { overrides in
                overrides = [:]
                for entry in resource.configs {
                    if let value = entry.value { overrides[entry.name] = value }
                }
                return nil
            }
            return AlterConfigsResponse.AlterConfigsResourceResponse(
                errorCode: (problem?.0 ?? .none), errorMessage: problem?.1,
                resourceType: resource.resourceType, resourceName: resource.resourceName)
        }
        return AlterConfigsResponse(throttleTimeMs: 0, responses: responses)
    }

    func incrementalAlterConfigs(_ request: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
        let responses = request.resources.map { resource in
            let problem = applyTopicConfigs(
                topicName: resource.resourceName, resourceType: resource.resourceType,
                validateOnly: request.validateOnly
            ) { overrides in
                for entry in resource.configs {
                    guard TopicConfigCatalog.definition(named: entry.name) != nil else {
                        return (.invalidConfig, "unknown topic config '\(entry.name)'")
                    }
                    // Operations: 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT (the last two for list configs).
                    switch entry.configOperation {
                    case 0:
                        guard let value = entry.value else {
                            return (.invalidRequest, "SET \(entry.name) needs a value")
                        }
                        overrides[entry.name] = value
                    case 1:
                        overrides.removeValue(forKey: entry.name)
                    case 2, 3:
                        guard TopicConfigCatalog.definition(named: entry.name)?.type == .list else {
                            return (
                                .invalidConfig,
                                "APPEND and SUBTRACT only apply to list configs; \(entry.name) is not one"
                            )
                        }
                        let current = overrides[entry.name] ?? TopicConfigs().value(entry.name, broker: config)
                        var items = current.split(separator: ",").map(String.init)
                        let given = (entry.value ?? "").split(separator: ",").map(String.init)
                        if entry.configOperation == 2 {
                            for item in given where !items.contains(item) { items.append(item) }
                        } else {
                            items.removeAll { given.contains($0) }
                        }
                        overrides[entry.name] = items.joined(separator: ",")
                    default:
                        return (.invalidRequest, "unknown config operation \(entry.configOperation)")
                    }
                }
                return nil
            }
            return IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
                errorCode: (problem?.0 ?? .none), errorMessage: problem?.1,
                resourceType: resource.resourceType, resourceName: resource.resourceName)
        }
        return IncrementalAlterConfigsResponse(throttleTimeMs: 0, responses: responses)
    }
}
