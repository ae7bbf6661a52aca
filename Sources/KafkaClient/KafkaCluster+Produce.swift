import KafkaProtocol
import KafkaRecords
import NIOCore

/// One partition's answer to Produce.
public struct ProduceResult: Sendable, Equatable {
    /// NONE on success. A transport failure is reported with the code it stands for
    /// (NETWORK_EXCEPTION, REQUEST_TIMED_OUT) and the error itself in `clientError`.
    public var errorCode: KafkaErrorCode
    /// The offset given to the batch's first record; -1 on error and with acks=0.
    public var baseOffset: Offset
    /// The broker's append time for LogAppendTime topics, else -1.
    public var logAppendTime: Int64
    /// -1 when unknown (Produce v0-4, acks=0, errors).
    public var logStartOffset: Offset
    public var errorMessage: String?
    /// Set when the request failed on the client side (connection, timeout, decoding); the
    /// batch may or may not have been appended when it is `connectionClosed` or `requestTimedOut`.
    public var clientError: KafkaClientError?

    public init(
        errorCode: KafkaErrorCode, baseOffset: Offset = -1, logAppendTime: Int64 = -1, logStartOffset: Offset = -1,
        errorMessage: String? = nil, clientError: KafkaClientError? = nil
    ) {
        self.errorCode = errorCode
        self.baseOffset = baseOffset
        self.logAppendTime = logAppendTime
        self.logStartOffset = logStartOffset
        self.errorMessage = errorMessage
        self.clientError = clientError
    }

    public var isSuccess: Bool { !errorCode.isError && clientError == nil }

    static func failed(_ error: KafkaClientError) -> ProduceResult {
        var message: String?
        if case let .broker(_, text, _) = error { message = text }
        return ProduceResult(errorCode: error.reportedCode, errorMessage: message, clientError: error)
    }

    /// Whether the batch was certainly not appended, so sending it again (to the current leader)
    /// cannot duplicate it.
    var isSafeToRetry: Bool {
        if let clientError {
            switch clientError {
            case .connectionFailed, .unknownBroker, .noBrokerAvailable: return true
            case let .broker(code, _, _): return code.invalidatesLeader || code == .notEnoughReplicas
            default: return false  // sent: the outcome is unknown
            }
        }
        return errorCode.invalidatesLeader || errorCode == .notEnoughReplicas || errorCode == .notController
    }
}

/// A Produce request written with `KafkaConnection.enqueueProduce`, its response not awaited yet.
public struct PendingProduce: Sendable {
    enum Waiting: Sendable {
        case response(PendingResponse<ProduceRequest>)
        /// acks=0: complete once written.
        case written(EventLoopFuture<Void>)
    }
    let waiting: Waiting
    public let partitions: [TopicPartition]
    let address: BrokerAddress

    /// Per-partition results. Throws only for a request-level failure (connection closed,
    /// timeout, malformed response), which concerns every partition of the request.
    public func results() async throws -> [TopicPartition: ProduceResult] {
        switch waiting {
        case let .written(future):
            try await future.get()
            return Dictionary(uniqueKeysWithValues: partitions.map { ($0, ProduceResult(errorCode: .none)) })
        case let .response(pending):
            let response = try await pending.response()
            var results: [TopicPartition: ProduceResult] = [:]
            for topic in response.responses {
                for p in topic.partitionResponses {
                    var message = p.errorMessage
                    if message == nil, !p.recordErrors.isEmpty {
                        message = p.recordErrors.map {
                            "record \($0.batchIndex): \($0.batchIndexErrorMessage ?? "invalid")"
                        }.joined(separator: "; ")
                    }
                    results[TopicPartition(topic.name, p.index)] = ProduceResult(
                        errorCode: p.errorCode, baseOffset: p.baseOffset,
                        logAppendTime: pending.version >= 2 ? p.logAppendTimeMs : -1,
                        logStartOffset: pending.version >= 5 ? p.logStartOffset : -1, errorMessage: message)
                }
            }
            for tp in partitions where results[tp] == nil {
                results[tp] = .failed(.protocolViolation(address, "Produce response has no entry for \(tp)"))
            }
            return results
        }
    }
}

extension KafkaConnection {
    /// Writes one Produce request now and returns without waiting (see `enqueue`): requests
    /// enqueued on one connection are appended by Kafka in the order of the calls. Each value
    /// of `records` is exactly one record batch (magic 2), sent byte for byte. With acks=0 the
    /// broker sends no response: the results (all NONE, offset -1) come once the request is
    /// written.
    ///
    /// Pipelining several requests for one partition keeps their order only while they
    /// succeed: if one fails (NOT_LEADER_OR_FOLLOWER, a dropped connection), the ones behind it
    /// may still be appended. Resend from the first failed batch, and drop what a later
    /// success already covered (or accept duplicates).
    public func enqueueProduce(_ records: [TopicPartition: ByteBuffer], acks: Int16, timeoutMs: Int32) throws
        -> PendingProduce
    {
        let version = try version(for: .produce)
        let topics = Dictionary(grouping: records, by: \.key.topic).sorted { $0.key < $1.key }.map { topic, entries in
            ProduceRequest.TopicProduceData(
                name: topic,
                partitionData: entries.sorted { $0.key.partition < $1.key.partition }.map {
                    ProduceRequest.PartitionProduceData(index: $0.key.partition, records: $0.value)
                })
        }
        let request = ProduceRequest(transactionalId: nil, acks: acks, timeoutMs: timeoutMs, topicData: topics)
        let partitions = records.keys.sorted()
        if acks == 0 {
            let future = try writeWithoutResponse(request, version: version)
            return PendingProduce(waiting: .written(future), partitions: partitions, address: address)
        }
        // The broker may wait up to timeoutMs for replicas before answering.
        let timeout = configuration.requestTimeout + .milliseconds(max(0, Int64(timeoutMs)))
        return PendingProduce(
            waiting: .response(try enqueue(request, version: version, timeout: timeout)),
            partitions: partitions, address: address)
    }

    /// `enqueueProduce` for ready-made batches.
    public func enqueueProduce(_ batches: [TopicPartition: StoredBatch], acks: Int16, timeoutMs: Int32) throws
        -> PendingProduce
    {
        try enqueueProduce(batches.mapValues(\.bytes), acks: acks, timeoutMs: timeoutMs)
    }
}

extension KafkaCluster {
    /// Produces one ready-made record batch per partition, byte for byte (offsets are assigned
    /// by the broker; the CRC does not cover them). One request per partition leader, leaders
    /// asked concurrently. acks: 0 (no response: results say NONE with offset -1), 1 (leader)
    /// or -1 (all in-sync replicas).
    ///
    /// A partition is sent again (after a metadata refresh and backoff) only when the batch was
    /// certainly not appended: a leadership error (NOT_LEADER_OR_FOLLOWER, ...),
    /// NOT_ENOUGH_REPLICAS, or a connection that could not be opened. A request that was sent
    /// but not answered (connection dropped, timeout) is reported in `clientError`, not resent.
    public func produce(
        _ batches: [TopicPartition: StoredBatch], acks: Int16 = -1,
        timeoutMs: Int32 = 30_000
    ) async throws -> [TopicPartition: ProduceResult] {
        try await produce(records: batches.mapValues(\.bytes), acks: acks, timeoutMs: timeoutMs)
    }

    /// `produce` for raw record bytes: each value is exactly one record batch.
    public func produce(
        records: [TopicPartition: ByteBuffer], acks: Int16 = -1,
        timeoutMs: Int32 = 30_000
    ) async throws -> [TopicPartition: ProduceResult] {
        try await routedToLeaders(
            Set(records.keys), operation: "Produce",
            failure: { ProduceResult.failed($0) },
            shouldRetry: { $0.isSafeToRetry }
        ) { leader, partitions, _ in
            await self.produce(
                partitions.reduce(into: [:]) { $0[$1] = records[$1] }, leader: leader, acks: acks, timeoutMs: timeoutMs)
        }
    }

    private func produce(
        _ records: [TopicPartition: ByteBuffer], leader: Int32, acks: Int16,
        timeoutMs: Int32
    ) async -> [TopicPartition: ProduceResult] {
        do {
            let connection = try await connection(to: leader)
            let results = try await connection.enqueueProduce(records, acks: acks, timeoutMs: timeoutMs).results()
            invalidateMetadata(topics: results.filter { $0.value.errorCode.invalidatesLeader }.keys.map(\.topic))
            return results
        } catch {
            let failure =
                error as? KafkaClientError
                ?? .protocolViolation(BrokerAddress(host: "broker \(leader)", port: 0), "\(error)")
            return records.mapValues { _ in .failed(failure) }
        }
    }
}
