import KafkaProtocol
import KafkaRecords
import NIOCore

/// Where to read one partition from.
public struct FetchPosition: Hashable, Sendable {
    public var offset: Offset
    /// Per-partition byte limit (Kafka still returns a first batch larger than this, KIP-74).
    public var maxBytes: Int32
    /// The leader epoch the caller believes current (fences stale leaders), nil for none.
    public var currentLeaderEpoch: LeaderEpoch?

    public init(offset: Offset, maxBytes: Int32 = 1 << 20, currentLeaderEpoch: LeaderEpoch? = nil) {
        self.offset = offset
        self.maxBytes = maxBytes
        self.currentLeaderEpoch = currentLeaderEpoch
    }
}

/// One partition's answer to Fetch.
public struct FetchedPartition: Sendable {
    /// NONE, or the broker's error (OFFSET_OUT_OF_RANGE, NOT_LEADER_OR_FOLLOWER, ...). A
    /// transport failure is reported with the code it stands for and `clientError` set.
    public var errorCode: KafkaErrorCode
    /// -1 when unknown (errors).
    public var highWatermark: Offset
    /// -1 when unknown.
    public var lastStableOffset: Offset
    /// -1 when unknown.
    public var logStartOffset: Offset
    /// Whole record batches, CRC-verified, in offset order, as the broker stored them. The
    /// first may start before the requested offset (it contains it); batches entirely before
    /// it are dropped, and so is a truncated last batch (Kafka cuts the response at maxBytes).
    public var batches: [StoredBatch]
    /// With READ_COMMITTED: the aborted transactions overlapping the returned batches.
    public var abortedTransactions: [AbortedTransaction]
    /// A client-side failure: the request failed, or the records could not be split (then
    /// `batches` holds the valid batches before the bad one and `errorCode` is CORRUPT_MESSAGE).
    public var clientError: KafkaClientError?

    public struct AbortedTransaction: Hashable, Sendable {
        public var producerId: ProducerID
        public var firstOffset: Offset
    }

    public init(
        errorCode: KafkaErrorCode, highWatermark: Offset = -1, lastStableOffset: Offset = -1,
        logStartOffset: Offset = -1,
        batches: [StoredBatch] = [], abortedTransactions: [AbortedTransaction] = [],
        clientError: KafkaClientError? = nil
    ) {
        self.errorCode = errorCode
        self.highWatermark = highWatermark
        self.lastStableOffset = lastStableOffset
        self.logStartOffset = logStartOffset
        self.batches = batches
        self.abortedTransactions = abortedTransactions
        self.clientError = clientError
    }

    /// The offset to fetch next: after the last batch returned, or nil when none was.
    public var nextOffset: Offset? { batches.last?.header.nextOffset }

    static func failed(_ error: KafkaClientError) -> FetchedPartition {
        FetchedPartition(errorCode: error.reportedCode, clientError: error)
    }

    /// Worth fetching again after a metadata refresh (the leader moved, a connection dropped).
    var shouldRetry: Bool {
        if let clientError { return clientError.isRetriable || clientError.errorCode?.invalidatesLeader == true }
        return errorCode.invalidatesLeader
    }
}

/// Request-wide Fetch settings.
public struct FetchOptions: Hashable, Sendable {
    /// How long the broker may wait for `minBytes` to accumulate (long poll).
    public var maxWaitMs: Int32
    public var minBytes: Int32
    /// Limit for the whole response (Kafka still returns one batch larger than this, KIP-74).
    public var maxBytes: Int32
    public var isolation: IsolationLevel
    /// Which connection to each broker `KafkaCluster.fetch` uses (see
    /// `KafkaCluster.connection(to:lane:)`): 1 by default, so that long polls never hold back
    /// produce, metadata or admin requests (lane 0). Give concurrent fetches of one cluster
    /// lanes of their own (2, 3, ...) to have them served in parallel.
    public var lane: Int

    public init(
        maxWaitMs: Int32 = 500, minBytes: Int32 = 1, maxBytes: Int32 = 50 << 20,
        isolation: IsolationLevel = .readUncommitted,
        lane: Int = 1
    ) {
        self.maxWaitMs = maxWaitMs
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.isolation = isolation
        self.lane = lane
    }
}

/// A Fetch written with `KafkaConnection.enqueueFetch`, its response not awaited yet.
public struct PendingFetch: Sendable {
    let pending: PendingResponse<FetchRequest>
    let positions: [TopicPartition: FetchPosition]
    let topicNames: [KafkaUUID: String]
    let address: BrokerAddress

    /// The version the request was sent at (13+ named topics by id).
    public var version: Int16 { pending.version }

    /// Per-partition results. Throws only for a request-level failure (connection closed,
    /// timeout, malformed response), which concerns every partition of the request.
    public func results() async throws -> [TopicPartition: FetchedPartition] {
        let response = try await pending.response()
        let version = pending.version
        var results: [TopicPartition: FetchedPartition] = [:]
        let topLevel = response.errorCode
        if version >= 7, topLevel.isError {
            let error = KafkaClientError.broker(topLevel, message: nil, context: "Fetch from \(address)")
            return positions.mapValues { _ in .failed(error) }
        }
        for topic in response.responses {
            let name = version >= 13 ? topicNames[topic.topicId] : topic.topic
            guard let name else { continue }  // an id we did not ask for: reported as missing below
            for p in topic.partitions {
                let tp = TopicPartition(name, p.partitionIndex)
                guard let position = positions[tp] else { continue }
                var fetched = FetchedPartition(
                    errorCode: p.errorCode, highWatermark: p.highWatermark,
                    lastStableOffset: p.lastStableOffset, logStartOffset: version >= 5 ? p.logStartOffset : -1,
                    abortedTransactions: (p.abortedTransactions ?? []).map {
                        .init(producerId: $0.producerId, firstOffset: $0.firstOffset)
                    })
                if let records = p.records {
                    let (batches, error) = Self.split(records)
                    fetched.batches = batches.filter { $0.header.nextOffset > position.offset }
                    if let error {
                        fetched.clientError = .malformedResponse(
                            address, api: .fetch, version: version,
                            reason: "records of \(tp): \(error)")
                        if !fetched.errorCode.isError { fetched.errorCode = .corruptMessage }
                    }
                }
                results[tp] = fetched
            }
        }
        for tp in positions.keys where results[tp] == nil {
            results[tp] = .failed(.protocolViolation(address, "Fetch response has no entry for \(tp)"))
        }
        return results
    }

    /// Splits a partition's records into batches, verifying each CRC. A truncated last batch is
    /// dropped; anything else invalid stops the split and is returned with the batches before it.
    static func split(_ records: ByteBuffer) -> (batches: [StoredBatch], error: RecordBatchError?) {
        var batches: [StoredBatch] = []
        var index = records.readerIndex
        while index < records.writerIndex {
            do throws(RecordBatchError) {
                let header = try RecordBatchHeader(parsing: records, at: index)
                guard index + header.totalSize <= records.writerIndex else { break }  // cut at maxBytes
                try header.verifyCRC(in: records, at: index)
                batches.append(
                    StoredBatch(header: header, bytes: records.getSlice(at: index, length: header.totalSize)!))
                index += header.totalSize
            } catch {
                if case .truncated = error { break }
                return (batches, error)
            }
        }
        return (batches, nil)
    }
}

extension KafkaConnection {
    /// Writes one Fetch request now and returns without waiting (see `enqueue`). ReplicaId -1
    /// (a consumer: reads stop at the high watermark), no fetch session (SessionId 0, epoch -1).
    /// The highest common Fetch version is used; versions 13+ name topics by id, so they are
    /// used only when `topicIds` has every topic of the request (from Metadata v10+).
    ///
    /// Several fetches may be in flight on one connection, but Kafka handles a connection's
    /// requests one after the other: a long-polling fetch delays the ones behind it (and any
    /// other request). See `KafkaCluster.fetch` for keeping fetches in flight on a slow link.
    public func enqueueFetch(
        _ positions: [TopicPartition: FetchPosition], options: FetchOptions = FetchOptions(),
        topicIds: [String: KafkaUUID] = [:]
    ) throws -> PendingFetch {
        let topicNames = Set(positions.keys.map(\.topic))
        let useIds = topicNames.allSatisfy { topicIds[$0].map { $0 != .zero } ?? false }
        let version = try version(for: .fetch, within: useIds ? nil : 4...12)
        let topics = Dictionary(grouping: positions, by: \.key.topic).sorted { $0.key < $1.key }.map { topic, entries in
            FetchRequest.FetchTopic(
                topic: topic, topicId: topicIds[topic] ?? .zero,
                partitions: entries.sorted { $0.key.partition < $1.key.partition }.map { tp, position in
                    FetchRequest.FetchPartition(
                        partition: tp.partition, currentLeaderEpoch: position.currentLeaderEpoch ?? -1,
                        fetchOffset: position.offset, lastFetchedEpoch: -1, logStartOffset: -1,
                        partitionMaxBytes: position.maxBytes)
                })
        }
        let request = FetchRequest(
            clusterId: nil, replicaId: -1, replicaState: .init(replicaId: -1, replicaEpoch: -1),
            maxWaitMs: options.maxWaitMs, minBytes: options.minBytes, maxBytes: options.maxBytes,
            isolationLevel: options.isolation.rawValue, sessionId: 0, sessionEpoch: -1,
            topics: topics, forgottenTopicsData: [], rackId: "")
        // The broker may hold the request for maxWaitMs before answering.
        let timeout = configuration.requestTimeout + .milliseconds(max(0, Int64(options.maxWaitMs)))
        var names: [KafkaUUID: String] = [:]
        if version >= 13 { for topic in topicNames { names[topicIds[topic]!] = topic } }
        return PendingFetch(
            pending: try enqueue(request, version: version, timeout: timeout),
            positions: positions, topicNames: names, address: address)
    }
}

extension KafkaCluster {
    /// Fetches `positions` from their partition leaders: one request per leader, leaders asked
    /// concurrently, results per partition (never thrown). Partitions whose leader moved
    /// (NOT_LEADER_OR_FOLLOWER, ...) or whose connection failed are fetched again after a
    /// metadata refresh.
    ///
    /// Keeping several fetches in flight per broker (high-latency links): for one partition
    /// the next offset is only known from the previous answer, so per partition there is one
    /// fetch at a time. To hide the round trip, split the partitions into groups and keep one
    /// fetch per group in flight, calling `fetch` concurrently from one task per group. Kafka
    /// serves one connection's requests in order, so give each group its own
    /// `FetchOptions.lane` (a connection each: their long polls then run in parallel); groups
    /// sharing a lane are pipelined on its connection but answered one after the other.
    public func fetch(_ positions: [TopicPartition: FetchPosition], options: FetchOptions = FetchOptions()) async throws
        -> [TopicPartition: FetchedPartition]
    {
        try await routedToLeaders(
            Set(positions.keys), operation: "Fetch",
            failure: { FetchedPartition.failed($0) },
            shouldRetry: { $0.shouldRetry }
        ) { leader, partitions, metadata in
            var subset: [TopicPartition: FetchPosition] = [:]
            var topicIds: [String: KafkaUUID] = [:]
            for tp in partitions {
                subset[tp] = positions[tp]
                if let id = metadata.topics[tp.topic]?.topicId { topicIds[tp.topic] = id }
            }
            return await self.fetch(subset, leader: leader, options: options, topicIds: topicIds)
        }
    }

    /// `fetch` with the request-wide settings spelled out.
    public func fetch(
        _ positions: [TopicPartition: FetchPosition], maxWaitMs: Int32, minBytes: Int32 = 1,
        maxBytes: Int32 = 50 << 20, isolation: IsolationLevel = .readUncommitted
    ) async throws -> [TopicPartition: FetchedPartition] {
        try await fetch(
            positions,
            options: FetchOptions(maxWaitMs: maxWaitMs, minBytes: minBytes, maxBytes: maxBytes, isolation: isolation))
    }

    private func fetch(
        _ positions: [TopicPartition: FetchPosition], leader: Int32, options: FetchOptions,
        topicIds: [String: KafkaUUID]
    ) async -> [TopicPartition: FetchedPartition] {
        do {
            let connection = try await connection(to: leader, lane: options.lane)
            let results = try await connection.enqueueFetch(positions, options: options, topicIds: topicIds).results()
            invalidateMetadata(topics: results.filter { $0.value.errorCode.invalidatesLeader }.keys.map(\.topic))
            return results
        } catch {
            let failure =
                error as? KafkaClientError
                ?? .protocolViolation(BrokerAddress(host: "broker \(leader)", port: 0), "\(error)")
            return positions.mapValues { _ in .failed(failure) }
        }
    }
}
