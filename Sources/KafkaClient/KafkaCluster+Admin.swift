import KafkaProtocol

/// A topic to create. Partitions and replication factor -1 mean the broker's defaults
/// (`num.partitions`, `default.replication.factor`; CreateTopics v4+).
public struct NewTopic: Hashable, Sendable {
    public var name: String
    public var partitions: Int32
    public var replicationFactor: Int16
    public var configs: [String: String]

    public init(name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// One topic's answer to an admin request (CreateTopics, CreatePartitions, DeleteTopics).
public struct TopicAdminResult: Hashable, Sendable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    /// CreateTopics v7+ on success (nil otherwise).
    public var topicId: KafkaUUID?
    /// CreateTopics v5+ on success: what the broker created (defaults resolved).
    public var partitions: Int32?
    public var replicationFactor: Int16?

    public init(
        errorCode: KafkaErrorCode, errorMessage: String? = nil, topicId: KafkaUUID? = nil,
        partitions: Int32? = nil, replicationFactor: Int16? = nil
    ) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.topicId = topicId
        self.partitions = partitions
        self.replicationFactor = replicationFactor
    }

    public var isSuccess: Bool { !errorCode.isError }
    /// TOPIC_ALREADY_EXISTS (36) from CreateTopics.
    public var alreadyExists: Bool { errorCode == .topicAlreadyExists }

    /// Throws the error as `KafkaClientError.broker`.
    public func check(_ context: String) throws {
        if errorCode.isError { throw KafkaClientError.broker(errorCode, message: errorMessage, context: context) }
    }
}

/// Where a config value comes from (DescribeConfigs v1+ ConfigSource).
public enum ConfigSource: Int8, Hashable, Sendable {
    case unknown = 0
    /// Set on the topic (the only source worth replicating to another cluster).
    case dynamicTopic = 1
    case dynamicBroker = 2
    case dynamicDefaultBroker = 3
    case staticBroker = 4
    case defaultConfig = 5
    case dynamicBrokerLogger = 6
    case clientMetrics = 7
    case group = 8
}

/// One config entry as DescribeConfigs reports it.
public struct ConfigEntry: Hashable, Sendable {
    /// nil for sensitive entries (and entries without a value).
    public var value: String?
    /// `.unknown` for a non-default value from DescribeConfigs v0, which does not say.
    public var source: ConfigSource
    /// The built-in default (v0: the broker's IsDefault; v1+: source DEFAULT_CONFIG).
    public var isDefault: Bool
    public var isSensitive: Bool
    public var readOnly: Bool
}

extension KafkaCluster {
    /// A connection to the controller named by Metadata (any broker when there is none: KRaft
    /// brokers forward admin requests to the controller themselves).
    public func controllerConnection() async throws -> KafkaConnection {
        let metadata = try await metadata(topics: [])
        if let controller = metadata.controllerId {
            return try await connection(to: controller)
        }
        return try await anyConnection()
    }

    /// Sends an admin request for `names` to the controller until no name is answered
    /// NOT_CONTROLLER (the controller moved: metadata is refreshed and those names are sent
    /// again). Request-level failures are retried by `withRetries` and then thrown.
    private func toController(
        _ what: String, names: [String],
        _ send: (KafkaConnection, [String]) async throws -> [String: TopicAdminResult]
    ) async throws -> [String: TopicAdminResult] {
        var results: [String: TopicAdminResult] = [:]
        var remaining = names
        var attempt = 1
        while true {
            let answers = try await withRetries(what) {
                let connection = try await controllerConnection()
                let answers = try await send(connection, remaining)
                for name in remaining where answers[name] == nil {
                    throw KafkaClientError.protocolViolation(
                        connection.address, "\(what) response has no entry for '\(name)'")
                }
                return answers
            }
            remaining = []
            for (name, answer) in answers {
                if answer.errorCode == .notController && attempt < configuration.retry.maxAttempts {
                    remaining.append(name)
                } else {
                    results[name] = answer
                }
            }
            if remaining.isEmpty { return results }
            invalidateMetadata()
            try await sleep(configuration.retry.backoff(afterAttempt: attempt))
            attempt += 1
        }
    }

    /// Creates topics (CreateTopics to the controller). Each topic's outcome is in the result;
    /// an existing topic is `alreadyExists`, not an error thrown.
    public func createTopics(
        _ topics: [NewTopic], validateOnly: Bool = false,
        timeoutMs: Int32 = 30_000
    ) async throws -> [String: TopicAdminResult] {
        let byName = Dictionary(topics.map { ($0.name, $0) }) { _, last in last }
        let usesDefaults = topics.contains { $0.partitions < 0 || $0.replicationFactor < 0 }
        let result = try await toController("CreateTopics", names: Array(byName.keys).sorted()) { connection, names in
            // validateOnly needs v1+, broker-default partitions/replication v4+.
            let version = try connection.version(
                for: .createTopics, within: (usesDefaults ? 4 : validateOnly ? 1 : 0)...Int16.max)
            let request = CreateTopicsRequest(
                topics: names.map { name in
                    let topic = byName[name]!
                    return .init(
                        name: name, numPartitions: topic.partitions, replicationFactor: topic.replicationFactor,
                        assignments: [],
                        configs: topic.configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
                },
                timeoutMs: timeoutMs, validateOnly: validateOnly)
            let response = try await connection.send(request, version: version, timeout: self.adminTimeout(timeoutMs))
            var answers: [String: TopicAdminResult] = [:]
            for topic in response.topics {
                let code = topic.errorCode
                answers[topic.name] = TopicAdminResult(
                    errorCode: code, errorMessage: version >= 1 ? topic.errorMessage : nil,
                    topicId: version >= 7 && !code.isError && topic.topicId != .zero ? topic.topicId : nil,
                    partitions: version >= 5 && !code.isError && topic.numPartitions >= 0 ? topic.numPartitions : nil,
                    replicationFactor: version >= 5 && !code.isError && topic.replicationFactor >= 0
                        ? topic.replicationFactor : nil)
            }
            return answers
        }
        if !validateOnly { invalidateMetadata() }
        return result
    }

    /// Raises `topic`'s partition count to `totalCount` (CreatePartitions to the controller).
    /// Throws the broker's error, e.g. INVALID_PARTITIONS when the topic already has that many.
    public func createPartitions(
        _ topic: String, totalCount: Int32, validateOnly: Bool = false,
        timeoutMs: Int32 = 30_000
    ) async throws {
        try await createPartitions([topic: totalCount], validateOnly: validateOnly, timeoutMs: timeoutMs)[topic]?
            .check("CreatePartitions for '\(topic)'")
    }

    /// CreatePartitions for several topics (topic -> new total count); results per topic.
    public func createPartitions(
        _ totals: [String: Int32], validateOnly: Bool = false,
        timeoutMs: Int32 = 30_000
    ) async throws -> [String: TopicAdminResult] {
        let result = try await toController("CreatePartitions", names: totals.keys.sorted()) { connection, names in
            let version = try connection.version(for: .createPartitions)
            let request = CreatePartitionsRequest(
                topics: names.map { .init(name: $0, count: totals[$0]!, assignments: nil) },
                timeoutMs: timeoutMs, validateOnly: validateOnly)
            let response = try await connection.send(request, version: version, timeout: self.adminTimeout(timeoutMs))
            return Dictionary(
                response.results.map {
                    ($0.name, TopicAdminResult(errorCode: $0.errorCode, errorMessage: $0.errorMessage))
                }
            ) { _, last in last }
        }
        if !validateOnly { invalidateMetadata() }
        return result
    }

    /// Deletes topics by name (DeleteTopics to the controller); results per topic
    /// (UNKNOWN_TOPIC_OR_PARTITION for one that does not exist).
    public func deleteTopics(_ names: [String], timeoutMs: Int32 = 30_000) async throws -> [String: TopicAdminResult] {
        let result = try await toController("DeleteTopics", names: Array(Set(names)).sorted()) { connection, names in
            let version = try connection.version(for: .deleteTopics)
            // v6+ lists topics as (name, id) pairs; before, as plain names.
            let request =
                version >= 6
                ? DeleteTopicsRequest(topics: names.map { .init(name: $0, topicId: .zero) }, timeoutMs: timeoutMs)
                : DeleteTopicsRequest(topicNames: names, timeoutMs: timeoutMs)
            let response = try await connection.send(request, version: version, timeout: self.adminTimeout(timeoutMs))
            var answers: [String: TopicAdminResult] = [:]
            for topic in response.responses {
                guard let name = topic.name else { continue }
                answers[name] = TopicAdminResult(
                    errorCode: topic.errorCode,
                    errorMessage: version >= 5 ? topic.errorMessage : nil)
            }
            return answers
        }
        invalidateMetadata()
        return result
    }

    /// Every config of each topic (DescribeConfigs to any broker). A topic that fails (e.g.
    /// UNKNOWN_TOPIC_OR_PARTITION) is a failure in its entry.
    public func describeTopicConfigs(_ topics: [String]) async throws -> [String: Result<
        [String: ConfigEntry], KafkaClientError
    >] {
        let names = Array(Set(topics)).sorted()
        return try await withRetries("DescribeConfigs") {
            let connection = try await anyConnection()
            let version = try connection.version(for: .describeConfigs)
            let request = DescribeConfigsRequest(
                resources: names.map {
                    .init(resourceType: ConfigResourceType.topic, resourceName: $0, configurationKeys: nil)
                },
                includeSynonyms: false, includeDocumentation: false)
            let response = try await connection.send(request, version: version)
            var results: [String: Result<[String: ConfigEntry], KafkaClientError>] = [:]
            for resource in response.results where resource.resourceType == ConfigResourceType.topic {
                let code = resource.errorCode
                if code.isError {
                    results[resource.resourceName] = .failure(
                        .broker(
                            code, message: resource.errorMessage,
                            context: "DescribeConfigs for topic '\(resource.resourceName)'"))
                    continue
                }
                var entries: [String: ConfigEntry] = [:]
                for config in resource.configs {
                    let source: ConfigSource
                    let isDefault: Bool
                    if version == 0 {
                        isDefault = config.isDefault
                        source = config.isDefault ? .defaultConfig : .unknown
                    } else {
                        source = ConfigSource(rawValue: config.configSource) ?? .unknown
                        isDefault = source == .defaultConfig
                    }
                    entries[config.name] = ConfigEntry(
                        value: config.value, source: source, isDefault: isDefault,
                        isSensitive: config.isSensitive, readOnly: config.readOnly)
                }
                results[resource.resourceName] = .success(entries)
            }
            for name in names where results[name] == nil {
                results[name] = .failure(
                    .protocolViolation(connection.address, "DescribeConfigs response has no entry for '\(name)'"))
            }
            return results
        }
    }

    /// Sets and deletes (reverts to the default) configs of one topic with
    /// IncrementalAlterConfigs (to any broker; KRaft brokers forward it to the controller).
    /// Configs not named are left alone. Throws the broker's error (e.g. INVALID_CONFIG).
    public func incrementalAlterTopicConfigs(
        _ topic: String, set: [String: String] = [:], delete: [String] = [],
        validateOnly: Bool = false
    ) async throws {
        try await withRetries("IncrementalAlterConfigs") {
            let connection = try await anyConnection()
            let version = try connection.version(for: .incrementalAlterConfigs)
            let configs =
                set.sorted { $0.key < $1.key }.map {
                    IncrementalAlterConfigsRequest.AlterableConfig(name: $0.key, configOperation: 0, value: $0.value)  // SET
                }
                + delete.sorted().map {
                    IncrementalAlterConfigsRequest.AlterableConfig(name: $0, configOperation: 1, value: nil)  // DELETE
                }
            let request = IncrementalAlterConfigsRequest(
                resources: [.init(resourceType: ConfigResourceType.topic, resourceName: topic, configs: configs)],
                validateOnly: validateOnly)
            let response = try await connection.send(request, version: version)
            guard let answer = response.responses.first(where: { $0.resourceName == topic }) else {
                throw KafkaClientError.protocolViolation(
                    connection.address, "IncrementalAlterConfigs response has no entry for '\(topic)'")
            }
            let code = answer.errorCode
            if code.isError {
                throw KafkaClientError.broker(
                    code, message: answer.errorMessage, context: "IncrementalAlterConfigs for topic '\(topic)'")
            }
        }
    }

    /// Admin requests carry a broker-side timeout; the client waits a little longer.
    nonisolated func adminTimeout(_ timeoutMs: Int32) -> Duration {
        configuration.requestTimeout + .milliseconds(max(0, Int64(timeoutMs)))
    }
}

enum ConfigResourceType {
    static let topic: Int8 = 2
}
