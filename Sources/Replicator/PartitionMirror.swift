import Foundation
import KafkaClient
import KafkaProtocol
import KafkaRecords
import Logging
import NIOCore
import Replication

/// Mirrors one source partition to its remote partition until cancelled, stopped or parked: runs
/// the actions of its `PartitionMirrorMachine` (where every decision is made, see its
/// documentation and docs/replication.md) and feeds back what came of each. The only thing in
/// flight beside an awaited action is the fetch the machine started (it overlaps the write of the
/// previous batches); its answer is fed when nothing else is left to do.
///
/// Target writes of both modes take one path: the partition leader's connection on the mirror's
/// lane, any error fed to the machine, which backs off and restarts.
struct PartitionMirror: Sendable {
    let link: LinkService
    let source: KafkaCluster
    let target: KafkaCluster
    let sourcePartition: TopicPartition
    let remote: TopicPartition
    let mode: WriteMode
    let lane: Int
    /// Translate mode: the map rebuilt from the offset syncs when the link started.
    let offsetMap: OffsetMap

    typealias Machine = PartitionMirrorMachine

    var logger: Logger {
        var logger = link.logger
        logger[metadataKey: "partition"] = "\(sourcePartition)"
        return logger
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Bytes one fetch may return for a partition. Each partition holds at most two fetch
    /// results: the batches being written and the answer of the fetch started meanwhile for
    /// the next position. So this bounds the link's buffer memory at about four times this per
    /// partition (two responses, the write request, the target's copy in flight).
    static let fetchBytes: Int32 = 2 << 20

    private var configuration: Machine.Configuration {
        var exact = false
        if case .prefix = link.link.naming { exact = true }
        return Machine.Configuration(
            mode: mode, sourceTopic: sourcePartition.topic, partition: sourcePartition.partition,
            remoteTopic: remote.topic,
            rewriter: MirrorBatchRewriter(
                source: link.link.source, target: link.link.target,
                provenanceHeader: link.link.provenanceHeader,
                compression: LinkCompression(link.link.compression) ?? .source),
            duplicatesAreExact: exact)
    }

    /// The fetch the machine started, its answer not taken yet.
    private struct InFlightFetch {
        let offset: Int64
        let task: Task<Machine.FetchAnswer, Never>

        /// The answer; cancelling the waiting task cancels the fetch.
        func answer() async -> Machine.FetchAnswer {
            await withTaskCancellationHandler {
                await task.value
            } onCancel: {
                task.cancel()
            }
        }
    }

    func run() async {
        let generation = link.status.generation(of: sourcePartition.topic)
        var machine = Machine(configuration, offsetMap: offsetMap)
        var actions = machine.handle(.started, now: Self.now())
        var fetch: InFlightFetch?
        defer { fetch?.task.cancel() }
        while true {
            link.status.publish(machine, generation: generation)
            if !actions.isEmpty {
                let action = actions.removeFirst()
                guard let event = await perform(action, fetch: &fetch) else { continue }
                actions += machine.handle(stopIfCancelled(event, machine), now: Self.now())
                continue
            }
            switch machine.phase {
            case .stopped, .parked: return
            default: break
            }
            let retired = link.status.generation(of: sourcePartition.topic) != generation
            if Task.isCancelled || retired {
                if retired && !Task.isCancelled {
                    logger.notice("partition mirror stopped: its source topic was deleted")
                }
                actions = machine.handle(.stop, now: Self.now())
                continue
            }
            guard let running = fetch else {
                logger.error(
                    "partition mirror ended: its machine has nothing in flight", metadata: ["phase": "\(machine.phase)"]
                )
                return
            }
            fetch = nil
            let answer = await running.answer()
            actions = machine.handle(stopIfCancelled(.fetched(from: running.offset, answer), machine), now: Self.now())
        }
    }

    /// After a shutdown cancelled this task, what failed did so because of it: the machine is
    /// told to stop instead. What succeeded is fed as it is (it happened).
    private func stopIfCancelled(_ event: Machine.Event, _ machine: Machine) -> Machine.Event {
        guard Task.isCancelled, machine.phase != .stopping else { return event }
        switch event {
        case .written, .offsetSyncsWritten: return event
        default: return .stop
        }
    }

    /// Runs one action; returns the event it answers with (nil: none, or later for a fetch).
    private func perform(_ action: Machine.Action, fetch: inout InFlightFetch?) async -> Machine.Event? {
        switch action {
        case .listPositions:
            return await listPositions()
        case let .fetch(offset):
            fetch = InFlightFetch(offset: offset, task: Task { await self.fetch(at: offset) })
            return nil
        case .cancelFetch:
            fetch?.task.cancel()
            fetch = nil
            return nil
        case let .lookUpTopicId(refresh):
            let topic = sourcePartition.topic
            if refresh { await source.invalidateMetadata(topics: [topic]) }
            let id = try? await source.metadata(topics: [topic]).topics[topic]?.topicId
            return .topicIdSeen(id == KafkaUUID.zero ? nil : id)
        case let .appendPreserving(batches, sourceLogStart):
            return await appendPreserving(batches, sourceLogStart: sourceLogStart)
        case let .produce(batches):
            return await produce(batches)
        case let .writeOffsetSyncs(syncs):
            // At shutdown this task is cancelled: the last syncs are still written, from a task of their own.
            return Task.isCancelled ? await Task { await self.write(syncs) }.value : await write(syncs)
        case let .sleep(until):
            do { try await Task.sleep(for: .milliseconds(max(0, until - Self.now()))) } catch { return .stop }
            return .tick
        case let .report(report):
            log(report)
            return nil
        case let .park(reason):
            logger.error(
                "partition mirror parked: \(reason)",
                metadata: [
                    "target": "\(remote)",
                    "delete-with":
                        "kafka-topics.sh --bootstrap-server \(link.targetBootstrap) --delete --topic \(remote.topic)"
                ])
            return nil
        }
    }

    // MARK: I/O

    private func offset(_ cluster: KafkaCluster, _ partition: TopicPartition, _ spec: OffsetSpec) async throws -> Int64
    {
        let answer = try await cluster.listOffsets([partition], spec: spec)
        guard let result = answer[partition] else {
            throw ReplicatorError.source("no ListOffsets answer for \(partition)")
        }
        return try result.get().offset
    }

    private func listPositions() async -> Machine.Event {
        do {
            return .positionsListed(
                Machine.Positions(
                    sourceLogStart: try await offset(source, sourcePartition, .earliest),
                    sourceLogEnd: try await offset(source, sourcePartition, .latest),
                    targetEnd: try await offset(target, remote, .latest)))
        } catch {
            // The retry after the backoff looks both topics' partitions and leaders up again (a
            // partition added just now, a leader moved); the stale mark is per topic.
            await source.invalidateMetadata(topics: [sourcePartition.topic])
            await target.invalidateMetadata(topics: [remote.topic])
            return .positionsUnavailable("\(error)")
        }
    }

    /// One fetch of this partition at `offset` (long poll, 500 ms, on the partition's lane).
    /// Translate mode reads committed data only (up to the last stable offset, with the list of
    /// aborted transactions); preserve mode copies the log as it is, markers included.
    private func fetch(at offset: Int64) async -> Machine.FetchAnswer {
        let failed = "fetch of \(sourcePartition) at \(offset) failed"
        do {
            let answer = try await source.fetch(
                [sourcePartition: FetchPosition(offset: offset, maxBytes: Self.fetchBytes)],
                options: FetchOptions(
                    maxWaitMs: 500, minBytes: 1, maxBytes: Self.fetchBytes,
                    isolation: mode == .translate ? .readCommitted : .readUncommitted, lane: lane))
            guard let result = answer[sourcePartition] else { return .failed("\(failed): no answer for the partition") }
            if result.errorCode == .offsetOutOfRange { return .offsetOutOfRange }
            guard result.errorCode == .none, result.clientError == nil else {
                return .failed("\(failed): \(result.errorCode) \(result.clientError.map { "\($0)" } ?? "")")
            }
            return .batches(
                Machine.FetchedBatches(
                    batches: result.batches, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset,
                    abortedTransactions: result.abortedTransactions.map {
                        .init(producerId: $0.producerId, firstOffset: $0.firstOffset)
                    }))
        } catch {
            return .failed("\(failed): \(error)")
        }
    }

    /// The remote partition leader's connection on this mirror's lane: where both modes write.
    private func targetLeader() async throws -> KafkaConnection {
        guard let leader = try await target.metadata(topics: [remote.topic]).leader(for: remote) else {
            await target.invalidateMetadata(topics: [remote.topic])
            throw ReplicatorError.target("no leader for \(remote)")
        }
        return try await target.connection(to: leader, lane: lane)
    }

    /// A refusal as the machine sees it; leadership errors make the next write look the leader up again.
    private func refusal(_ code: KafkaErrorCode, _ message: String?) async -> Machine.WriteFailure {
        if code.invalidatesLeader { await target.invalidateMetadata(topics: [remote.topic]) }
        return .refused(error: "\(code)", message: message ?? "")
    }

    /// Preserve mode: one StraitMirrorAppend with every batch, byte for byte, at the version
    /// ApiVersions negotiated.
    private func appendPreserving(_ batches: MirrorBatches, sourceLogStart: Int64) async -> Machine.Event {
        var records = ByteBuffer()
        for batch in batches.batches { records.writeImmutableBuffer(batch.bytes) }
        let request = StraitMirrorAppendRequest(
            timeoutMs: 30_000,
            topics: [
                .init(
                    name: remote.topic,
                    partitions: [
                        .init(partitionIndex: remote.partition, sourceLogStartOffset: sourceLogStart, records: records)
                    ])
            ])
        do {
            let (response, _) = try await targetLeader().send(request)
            guard let answer = response.topics.first?.partitions.first else {
                return .writeFailed(.unanswered("empty StraitMirrorAppend answer for \(remote)"))
            }
            guard answer.errorCode == 0 else {
                return .writeFailed(await refusal(answer.errorCode, answer.errorMessage))
            }
            return .written(targetBaseOffsets: [])
        } catch {
            return .writeFailed(.unanswered("\(error)"))
        }
    }

    /// Translate mode: every batch produced, pipelined on one connection so they are appended in
    /// order; the answer stops at the first batch not accepted.
    private func produce(_ batches: MirrorBatches) async -> Machine.Event {
        let connection: KafkaConnection
        do { connection = try await targetLeader() } catch { return .writeFailed(.unanswered("\(error)")) }
        var requests: [PendingProduce] = []
        var failure: Machine.WriteFailure?
        for batch in batches.batches {
            do { requests.append(try connection.enqueueProduce([remote: batch], acks: -1, timeoutMs: 30_000)) } catch {
                failure = .unanswered("\(error)")
                break
            }
        }
        var offsets: [Int64] = []
        for request in requests {
            do {
                guard let result = try await request.results()[remote] else {
                    failure = .unanswered("no Produce answer for \(remote)")
                    break
                }
                if let clientError = result.clientError {
                    failure = .unanswered("\(clientError)")
                    break
                }
                guard result.isSuccess else {
                    failure = await refusal(result.errorCode, result.errorMessage)
                    break
                }
                offsets.append(result.baseOffset)
            } catch {
                failure = .unanswered("\(error)")
                break
            }
        }
        guard let failure else { return .written(targetBaseOffsets: offsets) }
        return offsets.isEmpty ? .writeFailed(failure) : .partiallyWritten(targetBaseOffsets: offsets, failure)
    }

    /// Appends offset syncs to the offset-syncs topic at the source (the link's bookkeeping write).
    private func write(_ syncs: [OffsetSync]) async -> Machine.Event {
        do {
            let records = try syncs.map { (try $0.key(), $0.value()) }
            try await source.writeBookkeeping(
                MirrorTopics.offsetSyncs(targetAlias: link.link.target), records: records, now: Self.now())
            return .offsetSyncsWritten
        } catch {
            return .offsetSyncsFailed("\(error)")
        }
    }

    // MARK: Reports

    private func log(_ report: Machine.Report) {
        func range(_ r: Range<Int64>) -> Logger.MetadataValue { "[\(r.lowerBound), \(r.upperBound))" }
        switch report {
        case let .resuming(offset):
            logger.info(
                "partition mirror started",
                metadata: ["from": "\(offset)", "target": "\(remote)", "mode": "\(mode.rawValue)"])
        case let .targetAlreadyHoldsRecords(end):
            logger.notice(
                "the remote topic already holds records; mirrored records follow them",
                metadata: ["target-end": "\(end)"])
        case let .gap(gap):
            logger.error(
                "records were deleted at the source before they were mirrored",
                metadata: [
                    "gap": range(gap.start..<gap.end), "records": "\(gap.count)", "cause": "\(gap.cause)",
                    "target": "\(remote)"
                ])
        case let .duplicates(count, offsets, resumeAt):
            logger.error(
                "records the target holds past the last mapped one will be mirrored again",
                metadata: [
                    "duplicates": "\(count)", "target-offsets": range(offsets), "resume-source-offset": "\(resumeAt)"
                ])
        case let .unmappedTargetRecords(offsets, resumeAt):
            logger.warning(
                "the remote topic has records past the last mapped one (identity naming: some may be local writes)",
                metadata: ["target-offsets": range(offsets), "resume-source-offset": "\(resumeAt)"])
        case let .sourceBehind(position, log):
            logger.error(
                "the source partition is behind the mirrored position (re-created or truncated topic); restarting from its start",
                metadata: ["mirrored-up-to": "\(position)", "source-log": range(log)])
        case let .topicRecreated(old, new, upTo):
            let what =
                mode == .preserve
                ? "the source topic was re-created; its offsets no longer match the mirror's"
                : "the source topic was re-created; mirroring the new topic from its start, after the remote topic's end, with a fresh offset map"
            logger.error(
                "\(what)",
                metadata: [
                    "old-topic-id": "\(old)", "new-topic-id": "\(new)", "mirrored-up-to": "\(upTo)",
                    "target": "\(remote)"
                ])
        case let .refused(offsets, error, message, retryIn):
            logger.error(
                "the target refused a batch; it will be retried",
                metadata: [
                    "source-offsets": range(offsets), "target": "\(remote)", "error": "\(error)",
                    "message": "\(message)",
                    "retry-in-ms": "\(retryIn)"
                ])
        case let .failed(reason, retryIn):
            logger.error(
                "partition mirror failed; retrying", metadata: ["error": "\(reason)", "retry-in-ms": "\(retryIn)"])
        case let .lastOffsetSyncsLost(reason):
            logger.error(
                "could not write the last offset syncs; the next start re-mirrors from the previous one",
                metadata: ["error": "\(reason)"])
        }
    }
}
