import Foundation
import KafkaClient
import KafkaProtocol
import KafkaRecords
import Logging
import NIOCore
import Replication

/// Mirrors one source partition to its remote partition, forever (until cancelled): fetch from
/// the source (long poll, on its own connection lane), write to the target, advance. The fetch
/// for the next position is started as soon as a fetch's batches are known, so it runs while
/// they are written: one fetch and one write in flight per partition (see `mirrorLoop`).
///
/// Where it resumes after a restart:
/// - preserve: the target partition's log end offset (the mirror holds the source's offsets, so
///   it is exactly the next source offset; nothing is written twice).
/// - translate: the end of the offset map rebuilt from the offset syncs. Records the target got
///   after the last sync are written again; with prefix naming (the remote topic has no other
///   writer) their number is exactly target end − map end, reported and counted as duplicates.
///
/// Nothing is skipped silently: a source log start above the next offset to mirror (retention
/// deleted records before they were mirrored) is logged at error with the exact offsets and
/// counted; a target that refuses a write is retried with backoff and logged each time.
struct PartitionMirror: Sendable {
    let link: LinkService
    let source: KafkaCluster
    let target: KafkaCluster
    let sourcePartition: TopicPartition
    let remote: TopicPartition
    let mode: WriteMode
    let lane: Int

    var logger: Logger {
        var logger = link.logger
        logger[metadataKey: "partition"] = "\(sourcePartition)"
        return logger
    }

    private var statusKey: String { "\(sourcePartition)" }

    private func updateStatus(_ change: (inout LinkStatus.PartitionStatus) -> Void) {
        link.status.update(statusKey, default: LinkStatus.PartitionStatus(
            sourceTopic: sourcePartition.topic, targetTopic: remote.topic, partition: sourcePartition.partition), change)
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Bytes one fetch may return for a partition. Each partition holds at most two fetch
    /// results: the batches being written and the answer of the fetch started meanwhile for
    /// the next position. So this bounds the link's buffer memory at about four times this per
    /// partition (two responses, the write request, the target's copy in flight).
    static let fetchBytes: Int32 = 2 << 20

    /// One fetch of this partition at `offset` (long poll, 500 ms, on the partition's lane).
    /// Translate mode reads committed data only (up to the last stable offset, with the list of
    /// aborted transactions); preserve mode copies the log as it is, markers included.
    private func fetch(at offset: Int64) async throws -> [TopicPartition: FetchedPartition] {
        try await source.fetch(
            [sourcePartition: FetchPosition(offset: offset, maxBytes: Self.fetchBytes)],
            options: FetchOptions(maxWaitMs: 500, minBytes: 1, maxBytes: Self.fetchBytes,
                                  isolation: mode == .translate ? .readCommitted : .readUncommitted, lane: lane))
    }

    /// The fetch started for `offset` (the end of the batches being written) while they are
    /// written. Its answer is used only when the write ends exactly there; otherwise, and when
    /// the write fails or the loop ends, it is cancelled (the connection drops a late answer).
    private struct Prefetch {
        let offset: Int64
        let task: Task<[TopicPartition: FetchedPartition], any Error>

        /// The answer; cancelling the waiting task cancels the fetch.
        func value() async throws -> [TopicPartition: FetchedPartition] {
            try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        }
    }

    func run() async {
        var backoff: Duration = .milliseconds(100)
        let generation = link.maps.generation(of: sourcePartition.topic)
        while !Task.isCancelled && link.maps.generation(of: sourcePartition.topic) == generation {
            do {
                try await mirror(generation: generation)
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }  // requests cancelled by the shutdown
                logger.error("partition mirror failed; retrying", metadata: ["error": "\(error)", "retry-in": "\(backoff)"])
                updateStatus { $0.errors += 1; $0.lastError = "\(error)" }
                do { try await Task.sleep(for: backoff) } catch { return }
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func offset(_ cluster: KafkaCluster, _ partition: TopicPartition, _ spec: OffsetSpec) async throws -> Int64 {
        let answer = try await cluster.listOffsets([partition], spec: spec)
        guard let result = answer[partition] else { throw ReplicatorError.source("no ListOffsets answer for \(partition)") }
        return try result.get().offset
    }

    private func mirror(generation: Int) async throws {
        let sourceStart = try await offset(source, sourcePartition, .earliest)
        let targetEnd = try await offset(target, remote, .latest)
        var next: Int64
        var map = link.maps.get(sourcePartition) ?? OffsetMap()
        var emitter = OffsetSyncEmitter(topic: sourcePartition.topic, partition: sourcePartition.partition,
                                        maxRecordsBetweenSyncs: 10_000, maxIntervalMs: 1_000)
        switch mode {
        case .preserve:
            next = max(targetEnd, 0)
            if targetEnd == 0 { next = sourceStart }
            link.maps.setPreserved(sourcePartition, min(sourceStart, next)..<next)
        case .translate:
            next = map.sourceEnd ?? sourceStart
            let mappedEnd = map.targetEnd ?? 0
            if map.isEmpty && targetEnd > 0 {
                logger.notice("the remote topic already holds records; mirrored records follow them",
                              metadata: ["target-end": "\(targetEnd)"])
            } else if targetEnd > mappedEnd {
                if case .prefix = link.link.naming {
                    let duplicates = targetEnd - mappedEnd
                    logger.error("records written after the last offset sync will be mirrored again", metadata: [
                        "duplicates": "\(duplicates)", "target-offsets": "[\(mappedEnd), \(targetEnd))", "resume-source-offset": "\(next)"])
                    updateStatus { $0.duplicates += duplicates }
                } else {
                    logger.warning("the remote topic has records past the last offset sync (identity naming: some may be local writes)",
                                   metadata: ["target-offsets": "[\(mappedEnd), \(targetEnd))", "resume-source-offset": "\(next)"])
                }
            }
        }
        updateStatus { $0.mirroredOffset = next }
        logger.info("partition mirror started", metadata: ["from": "\(next)", "target": "\(remote)", "mode": "\(mode.rawValue)"])

        let syncTopic = MirrorTopics.offsetSyncs(targetAlias: link.link.target)
        var pendingSyncs: [OffsetSync] = []
        /// Writes the syncs not yet written, plus the newest position. Run in its own task so a
        /// shutdown (which cancels this one) still gets the newest position out.
        func flushSyncs() async {
            guard mode == .translate else { return }
            let last = pendingSyncs + emitter.flush(now: Self.now())
            pendingSyncs = []
            guard !last.isEmpty else { return }
            let link = self.link, source = self.source, logger = self.logger
            let records = last.compactMap { sync in (try? sync.key()).map { ($0, sync.value()) } }
            await Task {
                do { try await link.produce(source, topic: syncTopic, records: records, now: Self.now()) } catch {
                    logger.error("could not write the last offset syncs; the next start re-mirrors from the previous one",
                                 metadata: ["error": "\(error)"])
                }
            }.value
        }

        do {
            try await mirrorLoop(from: next, map: &map, emitter: &emitter, pendingSyncs: &pendingSyncs, syncTopic: syncTopic,
                                 generation: generation)
        } catch {
            await flushSyncs()
            throw error
        }
        await flushSyncs()
    }

    /// Fetch, write, advance; with the next fetch overlapping the write:
    ///
    ///     fetch(n) ─ checks ─┬─ write(batches of n) ─────────┬─ checks ─ write(batches of n+1) ...
    ///                        └─ fetch(n+1, where n ends) ────┘
    ///
    /// Writes of one partition stay serial (the next starts after the previous one succeeded),
    /// and every check (generation, topic id, errors, out of range, gaps) is made on a fetch's
    /// answer when it is taken, before its batches are written, as in a serial loop. A prefetched
    /// answer is taken only when the write ended where it was started; after a failed or partial
    /// write it is cancelled and unused, and the position comes from the write (or, after a
    /// thrown error, from the restart, which re-reads the target).
    private func mirrorLoop(from start: Int64, map: inout OffsetMap, emitter: inout OffsetSyncEmitter,
                            pendingSyncs: inout [OffsetSync], syncTopic: String, generation: Int) async throws {
        var next = start
        var prefetch: Prefetch?
        defer { prefetch?.task.cancel() }
        // A source topic id other than the one first seen means the topic was deleted and created
        // again, and its offsets mean something else.
        func checkTopicId() async throws -> (old: KafkaUUID, new: KafkaUUID)? {
            guard let id = try await source.metadata(topics: [sourcePartition.topic]).topics[sourcePartition.topic]?.topicId,
                  id != KafkaUUID.zero else { return nil }
            return link.maps.changedTopicId(sourcePartition, id).map { ($0, id) }
        }
        if let change = try await checkTopicId() {
            try await sourceTopicRecreated(old: change.old, new: change.new, next: &next, map: &map, emitter: &emitter,
                                           pendingSyncs: &pendingSyncs)
        }
        var nextTopicIdCheck = ContinuousClock.now.advanced(by: .seconds(1))
        var refusalBackoff: Duration = .milliseconds(100)
        while !Task.isCancelled {
            let fetched: [TopicPartition: FetchedPartition]
            if let ahead = prefetch, ahead.offset == next {
                prefetch = nil
                fetched = try await ahead.value()
            } else {
                prefetch?.task.cancel()
                prefetch = nil
                fetched = try await fetch(at: next)
            }
            if Task.isCancelled { return }  // the fetch was cancelled by the shutdown
            if link.maps.generation(of: sourcePartition.topic) != generation {
                logger.notice("partition mirror stopped: its source topic was deleted")
                return
            }
            // The topic id comes from the metadata the link refreshes, so looking once a second is
            // enough; after a fetch error (a re-created topic's offsets are out of range) fresh
            // metadata is asked for at once, before the error is acted on.
            let clock = ContinuousClock.now
            let failed = fetched[sourcePartition].map { $0.errorCode != .none || $0.clientError != nil } ?? true
            if failed { await source.invalidateMetadata() }
            if failed || clock >= nextTopicIdCheck {
                nextTopicIdCheck = clock.advanced(by: .seconds(1))
                if let change = try? await checkTopicId() {
                    try await sourceTopicRecreated(old: change.old, new: change.new, next: &next, map: &map, emitter: &emitter,
                                                   pendingSyncs: &pendingSyncs)
                }
            }
            guard let result = fetched[sourcePartition] else { continue }
            if result.errorCode == .offsetOutOfRange {
                next = try await handleOutOfRange(next: next)
                updateStatus { $0.mirroredOffset = next }
                continue
            }
            guard result.errorCode == .none, result.clientError == nil else {
                throw ReplicatorError.source("fetch of \(sourcePartition) at \(next) failed: \(result.errorCode) \(result.clientError.map { "\($0)" } ?? "")")
            }
            if result.logStartOffset > next {
                next = reportGap(from: next, to: result.logStartOffset, cause: "source retention")
            }
            let batches = result.batches.filter { $0.header.nextOffset > next }
            updateStatus {
                $0.sourceEndOffset = result.highWatermark
                $0.oldestUnmirroredTimestamp = batches.first.map { $0.header.baseTimestamp }
            }
            guard !batches.isEmpty else {
                // Caught up (or idle): the newest position still gets its offset sync within the
                // sync interval, so a crash now re-mirrors nothing of a partition that went quiet.
                if mode == .translate { try await writeDueSyncs(&pendingSyncs, emitter: &emitter, syncTopic: syncTopic) }
                continue
            }

            // The next fetch runs while these batches are written (at most one per partition:
            // the previous answer has been taken).
            let ahead = batches.last!.header.nextOffset
            prefetch = Prefetch(offset: ahead, task: Task { [self] in try await fetch(at: ahead) })

            switch mode {
            case .preserve:
                next = try await appendPreserving(batches, sourceLogStart: result.logStartOffset)
                link.maps.setPreserved(sourcePartition, min(result.logStartOffset, next)..<next)
                let records = Int64(batches.reduce(0) { $0 + Int($1.header.recordsCount) })
                let bytes = Int64(batches.reduce(0) { $0 + $1.bytes.readableBytes })
                updateStatus { $0.records += records; $0.bytes += bytes; $0.mirroredOffset = next }
            case .translate:
                let skip = AbortedTransactionFilter.skipped(batches.map(\.header), aborted: result.abortedTransactions.map {
                    AbortedTransactionFilter.AbortedTransaction(producerId: $0.producerId, firstOffset: $0.firstOffset)
                })
                let outcome = try await produceTranslated(batches, skipping: skip, from: next, map: &map, emitter: &emitter)
                next = outcome.reached
                link.maps.set(sourcePartition, map)
                pendingSyncs += outcome.syncs
                updateStatus {
                    $0.records += outcome.records; $0.bytes += outcome.bytes; $0.loopRecordsSkipped += outcome.loopSkipped
                    $0.mirroredOffset = next
                }
                try await writeDueSyncs(&pendingSyncs, emitter: &emitter, syncTopic: syncTopic)
                if outcome.refused {
                    // The same batch is tried again after a pause that grows while refusals go on.
                    prefetch?.task.cancel()
                    prefetch = nil
                    try await Task.sleep(for: refusalBackoff)
                    refusalBackoff = min(refusalBackoff * 2, .seconds(5))
                } else {
                    refusalBackoff = .milliseconds(100)
                }
            }
            if next >= result.highWatermark { updateStatus { $0.oldestUnmirroredTimestamp = nil } }
            if next != ahead {
                // A partial write (translate: the target refused a batch): the answer fetched
                // ahead is not where mirroring resumes.
                prefetch?.task.cancel()
                prefetch = nil
            }
        }
    }

    /// Writes the offset syncs that are due (the emitter's interval or record count reached) and
    /// any left from before, to the offset-syncs topic at the source.
    private func writeDueSyncs(_ pendingSyncs: inout [OffsetSync], emitter: inout OffsetSyncEmitter,
                               syncTopic: String) async throws {
        pendingSyncs += emitter.tick(now: Self.now())
        guard !pendingSyncs.isEmpty else { return }
        let records = try pendingSyncs.map { (try $0.key(), $0.value()) }
        try await link.produce(source, topic: syncTopic, records: records, now: Self.now())
        pendingSyncs = []
    }

    /// The source topic was deleted and created again (new topic id). Policy:
    /// - preserve: the mirror topic holds the old topic's offsets, which the new topic reuses for
    ///   other records; mirroring this partition stops, loudly, until an operator deletes or
    ///   renames the remote topic and restarts the link.
    /// - translate: the offset map is reset (a reset marker goes to the offset syncs) and the new
    ///   topic is mirrored from its start, after what the remote topic already holds.
    private func sourceTopicRecreated(old: KafkaUUID, new: KafkaUUID, next: inout Int64, map: inout OffsetMap,
                                      emitter: inout OffsetSyncEmitter, pendingSyncs: inout [OffsetSync]) async throws {
        updateStatus { $0.errors += 1; $0.lastError = "source topic re-created (id \(old) → \(new))" }
        switch mode {
        case .preserve:
            logger.error("the source topic was re-created; its offsets no longer match the mirror's, so this partition stops mirroring (delete or rename the remote topic, then restart the link)",
                         metadata: ["old-topic-id": "\(old)", "new-topic-id": "\(new)", "mirrored-up-to": "\(next)", "target": "\(remote)"])
            try await Task.sleep(for: .seconds(365 * 24 * 3600))
        case .translate:
            let targetEnd = try await offset(target, remote, .latest)
            logger.error("the source topic was re-created; mirroring its new records from their start, after the remote topic's end",
                         metadata: ["old-topic-id": "\(old)", "new-topic-id": "\(new)", "mirrored-up-to": "\(next)",
                                    "target-end": "\(targetEnd)"])
            pendingSyncs += emitter.sourceReset(targetEndOffset: targetEnd, now: Self.now())
            map = OffsetMap()
            link.maps.set(sourcePartition, map)
            link.maps.acceptTopicId(sourcePartition, new)
            next = 0
            throw ReplicatorError.source("source topic \(sourcePartition.topic) re-created; restarting its mirror")
        }
    }

    /// The fetch position fell outside the source log: below its start (retention deleted
    /// records not yet mirrored: a gap) or above its end (the topic was re-created or truncated).
    private func handleOutOfRange(next: Int64) async throws -> Int64 {
        let start = try await offset(source, sourcePartition, .earliest)
        let end = try await offset(source, sourcePartition, .latest)
        if start > next { return reportGap(from: next, to: start, cause: "source retention") }
        if next > end {
            logger.error("the source partition is behind the mirrored position (re-created or truncated topic); restarting from its start",
                         metadata: ["mirrored-up-to": "\(next)", "source-log": "[\(start), \(end))"])
            updateStatus { $0.errors += 1; $0.lastError = "source behind mirrored position \(next): [\(start), \(end))" }
            return start
        }
        return next
    }

    private func reportGap(from next: Int64, to start: Int64, cause: String) -> Int64 {
        logger.error("records were deleted at the source before they were mirrored", metadata: [
            "gap": "[\(next), \(start))", "records": "\(start - next)", "cause": "\(cause)", "target": "\(remote)"])
        updateStatus { $0.gaps += 1; $0.gapOffsets += start - next; $0.lastError = "gap [\(next), \(start)) (\(cause))" }
        return start
    }

    private func leaderConnection() async throws -> KafkaConnection {
        let metadata = try await target.metadata(topics: [remote.topic])
        guard let leader = metadata.topics[remote.topic]?.partitions.first(where: { $0.partition == remote.partition })?.leader else {
            await target.invalidateMetadata()
            throw ReplicatorError.target("no leader for \(remote)")
        }
        return try await target.connection(to: leader, lane: lane)
    }

    /// Preserve mode: one StraitMirrorAppend with every fetched batch, byte for byte.
    private func appendPreserving(_ batches: [StoredBatch], sourceLogStart: Int64) async throws -> Int64 {
        var records = ByteBuffer()
        for batch in batches { records.writeImmutableBuffer(batch.bytes) }
        let request = StraitMirrorAppendRequest(timeoutMs: 30_000, topics: [.init(name: remote.topic, partitions: [
            .init(partitionIndex: remote.partition, sourceLogStartOffset: sourceLogStart, records: records)])])
        let connection = try await leaderConnection()
        let response = try await connection.send(request, version: 0)
        guard let answer = response.topics.first?.partitions.first else {
            throw ReplicatorError.target("empty StraitMirrorAppend answer for \(remote)")
        }
        guard answer.errorCode == 0 else {
            let code = answer.errorCode
            if code.invalidatesLeader { await target.invalidateMetadata() }
            throw ReplicatorError.target("mirror append to \(remote) refused: \(code) \(answer.errorMessage ?? "")")
        }
        return batches.last!.header.nextOffset
    }

    /// What one translate-mode write achieved: only accepted batches count.
    private struct TranslatedWrite {
        /// Records and bytes (as written to the target) of the batches the target accepted.
        var records: Int64 = 0
        var bytes: Int64 = 0
        /// Records left out because their origin is the target.
        var loopSkipped: Int64 = 0
        var syncs: [OffsetSync] = []
        /// The next source offset to mirror: after the last batch written or skipped in order.
        var reached: Int64
        /// The target refused a batch (the write stopped there).
        var refused = false
    }

    /// Translate mode: rewrite (provenance, codec, client form) and produce every batch, pipelined
    /// on one connection so they are appended in order; record where each landed. Batches marked
    /// in `skipping` (transaction markers, aborted transactions) are not written; their offsets
    /// are passed over.
    private func produceTranslated(_ batches: [StoredBatch], skipping skip: [Bool], from next: Int64, map: inout OffsetMap,
                                   emitter: inout OffsetSyncEmitter) async throws -> TranslatedWrite {
        var rewritten: [(batch: StoredBatch?, offsets: SourceOffsets, sourceNext: Int64, loopSkipped: Int)] = []
        var position = next
        for (batch, skipped) in zip(batches, skip) {
            if skipped {
                rewritten.append((nil, SourceOffsets(), batch.header.nextOffset, 0))
            } else {
                let result = try rewriter.rewrite(batch, from: position)
                rewritten.append((result.batch, result.sourceOffsets, batch.header.nextOffset, result.skippedFromTarget))
            }
            position = batch.header.nextOffset
        }
        let connection = try await leaderConnection()
        var pending: [(request: PendingProduce?, size: Int, offsets: SourceOffsets, sourceNext: Int64, loopSkipped: Int)] = []
        for entry in rewritten {
            let request = try entry.batch.map { try connection.enqueueProduce([remote: $0], acks: -1, timeoutMs: 30_000) }
            pending.append((request, entry.batch?.bytes.readableBytes ?? 0, entry.offsets, entry.sourceNext, entry.loopSkipped))
        }
        var outcome = TranslatedWrite(reached: next)
        for entry in pending {
            if let request = entry.request {
                let result = try await request.results()[remote]
                guard let result, result.isSuccess else {
                    let code = result?.errorCode ?? .unknownServerError
                    if code.invalidatesLeader { await target.invalidateMetadata() }
                    let reason = result?.errorMessage ?? result?.clientError.map { "\($0)" } ?? "no answer for the partition"
                    logger.error("the target refused a batch; it will be retried", metadata: [
                        "source-offsets": "\(entry.offsets)", "target": "\(remote)", "error": "\(code)", "message": "\(reason)"])
                    updateStatus {
                        $0.errors += 1
                        $0.lastError = "target refused source offsets \(entry.offsets): \(code): \(reason)"
                    }
                    // Resume from here; batches after it that did land are counted as duplicates then.
                    outcome.refused = true
                    return outcome
                }
                map.record(entry.offsets, targetBaseOffset: result.baseOffset)
                outcome.syncs += emitter.written(entry.offsets, targetBaseOffset: result.baseOffset, now: Self.now())
                outcome.records += entry.offsets.count
                outcome.bytes += Int64(entry.size)
            }
            outcome.loopSkipped += Int64(entry.loopSkipped)
            outcome.reached = entry.sourceNext
        }
        return outcome
    }

    /// Adds the provenance header and changes the codec when the link asks; otherwise the
    /// batch is forwarded untouched.
    private var rewriter: MirrorBatchRewriter {
        MirrorBatchRewriter(source: link.link.source, target: link.link.target, provenanceHeader: link.link.provenanceHeader,
                            compression: LinkCompression(link.link.compression) ?? .source)
    }
}
