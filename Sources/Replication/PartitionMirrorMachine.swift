import KafkaProtocol
import KafkaRecords
import NIOCore

/// How a link writes its target.
public enum WriteMode: String, Sendable {
    /// Strait's StraitMirrorAppend: batches stored at their source offsets, byte for byte.
    case preserve
    /// Plain produce to any Kafka; the exact source→target offset map is kept in offset syncs.
    case translate
}

/// Source offsets that will never be mirrored: `start..<end`. Always reported, never skipped quietly.
public struct Gap: Sendable, Equatable, CustomStringConvertible {
    public enum Cause: Sendable, Equatable, CustomStringConvertible {
        /// Retention (or a delete-records call) removed them at the source before they were mirrored:
        /// the source's log start moved past the next offset to mirror.
        case sourceLogStartMoved
        /// The source topic was deleted and created again (its topic ID changed) before they were mirrored.
        case topicRecreated

        public var description: String {
            switch self {
            case .sourceLogStartMoved: "source retention"
            case .topicRecreated: "source topic re-created"
            }
        }
    }

    /// The first lost source offset.
    public var start: Int64
    /// One past the last lost source offset.
    public var end: Int64
    public var cause: Cause

    public init(start: Int64, end: Int64, cause: Cause) {
        self.start = start
        self.end = end
        self.cause = cause
    }

    /// Offsets lost (an upper bound of records: compaction may have left holes in the range).
    public var count: Int64 { end - start }
    public var description: String { "gap [\(start), \(end)) (\(cause))" }
}

/// Counters of one mirrored partition, monotonic for the life of the process.
public struct PartitionCounters: Sendable, Equatable {
    /// Records and bytes (as written) the target accepted.
    public var recordsMirrored: Int64 = 0
    public var bytesMirrored: Int64 = 0
    /// Records not written because they came from the link's target (provenance loop cut).
    public var loopRecordsSkipped: Int64 = 0
    public var gaps: Int64 = 0
    public var gapOffsets: Int64 = 0
    /// Records written twice at the target (translate mode, prefix naming): the target held them
    /// past the offset map's end when the mirror (re)started, and they are written again. Counted
    /// once an offset sync at or past them is written (see the restart policy).
    public var duplicates: Int64 = 0
    /// Failed fetches, writes and listings (each retried), refusals, and the anomalies reported
    /// with `lastError` (re-created topic, source behind the mirrored position).
    public var errors: Int64 = 0

    public init() {}
}

/// Record batches handed to the runner to write, compared by header and bytes.
public struct MirrorBatches: Sendable, Equatable, CustomStringConvertible {
    public var batches: [StoredBatch]

    public init(_ batches: [StoredBatch]) { self.batches = batches }

    public static func == (a: MirrorBatches, b: MirrorBatches) -> Bool {
        a.batches.count == b.batches.count
            && zip(a.batches, b.batches).allSatisfy { $0.header == $1.header && $0.bytes == $1.bytes }
    }

    public var description: String {
        "\(batches.count) batches, \(batches.reduce(0) { $0 + $1.bytes.readableBytes }) bytes"
    }
}

/// The mirror of one source partition into its remote partition, as a state machine: the runner
/// (`Replicator.PartitionMirror`) performs each `Action` and feeds back what came of it as an
/// `Event`, with the time (`now`, Unix milliseconds). No I/O and no clock in here; every
/// decision is made here and tested as a transcript (`Tests/ReplicationTests/PartitionMirrorMachineTests`).
///
/// ```
/// notStarted ─started─▶ listing ─positionsListed─▶ mirroring ⇄ (fetch, write, offset syncs)
///                         ▲                           │ failure / refusal
///                         └──── tick ◀── backingOff ◀─┘
/// mirroring ─topicIdSeen(other id)─▶ preserve: parked   translate: listing (fresh offset map)
/// any ─stop─▶ stopping (last offset syncs) ─▶ stopped
/// ```
///
/// The runner's contract: every answer has at most one action that produces an event (list,
/// look up, append, produce, write syncs, sleep), and it comes last; `fetch(from:)` starts a
/// fetch whose answer the runner feeds once it has nothing else to do. So at most one fetch and
/// one write are in flight, and the fetch for the next position overlaps the write of the
/// previous batches (docs/replicator.md, "A partition mirror's loop").
///
/// **Policies** (one per situation; docs/replication.md lists them too):
/// - *Normal flow*: fetch at the next offset; the answer's batches (minus those wholly before the
///   position) are written, and the fetch for where they end starts at once. Preserve appends
///   them byte for byte (`appendPreserving`); translate drops control batches and aborted
///   transactions (`AbortedTransactionFilter`), rewrites the rest (`MirrorBatchRewriter`) and
///   produces them (`produce`), recording where each landed in the offset map and emitting
///   offset syncs (`OffsetSyncEmitter`, every `syncEveryRecords` records or `syncIntervalMs`).
///   An empty answer (caught up) writes the syncs that are due, so an idle partition's newest
///   position is synced within the interval.
/// - *Gap*: a source log start above the next offset (in a fetch answer or a listing) means
///   records were deleted before they were mirrored: `Gap [next, logStart)` is reported and
///   counted, and mirroring continues at the log start.
/// - *Source behind the position* (a listing shows the source log end below it: truncated):
///   reported and counted as an error; mirroring restarts at the source's log start.
/// - *Re-created source topic* (its topic ID changed; looked up for the first fetch answer after
///   every (re)start, then once every `topicIdCheckIntervalMs`, and at once after a failed
///   fetch, always before the answer is used):
///   preserve *parks* the partition — the mirror topic holds the old topic's records at offsets
///   the new one reuses — with a `ParkReason` that says what to run; translate reports what the
///   old topic had left unmirrored as a gap, starts a fresh offset map (a reset marker goes to
///   the offset syncs) and mirrors the new topic from its log start, after what the remote
///   topic holds.
/// - *Refusal* (the target answered a write with an error) and *failure* (a fetch, listing,
///   offset-sync write or write without an answer): reported with the error and counted; the
///   fetch ahead is cancelled; after a backoff (`firstBackoffMs` doubling to `maxBackoffMs`,
///   back to the first after a write succeeds or a fetch finds nothing new) the mirror
///   *restarts*: it lists the positions again and resumes as below.
/// - *Partial write* (translate: the first batches accepted, then a refusal or no answer): the
///   accepted batches count and are mapped, the rest is retried as a refusal is. Batches after
///   the refused one that landed anyway are found by the restart's listing and counted as
///   duplicates.
/// - *Restart* (at start-up from the offset map rebuilt from the offset syncs, and after every
///   failure): preserve resumes at the target's log end (the source log start if the target is
///   empty); translate at the map's end (start-up) or the machine's position (in-process), and
///   the records the target holds past the mapped end are written again: counted as duplicates
///   with prefix naming (`duplicatesAreExact`), only reported with identity naming. They are
///   counted (and reported) when the first offset sync at or past their end has been written,
///   not at the restart: until then a start-up rebuilds a map that ends before them and finds
///   them again, so a replicator killed in between leaves them to be counted once, by the next
///   start; after it, the next start's map ends past them.
/// - *Stop*: the fetch is cancelled and the pending offset syncs and the newest position are
///   written (`stopping`), then `stopped`.
///
/// Fencing and promotion (the next issue) are events of this machine too: `fence` (another
/// replicator owns the partition: stop writing, report) and `promote` (the mirror topic becomes
/// writable: stop and hand over) go next to `stop` in `handle(_:now:)`.
///
/// **Offset map retention** (translate): the map answers for committed offsets at or after the
/// source log start only (`OffsetMap.prune(sourceLogStart:)` each time a fetch shows the log
/// start moved), and keeps at most `maxOffsetMapRuns` runs, the newest
/// (`OffsetMap.prune(keepingAtMost:)`; a healthy partition has one run, each compaction hole,
/// transaction marker or restart adds one). Older committed offsets are no longer translated
/// (`UntranslatedOffset.Reason.belowMirroredRange`).
public struct PartitionMirrorMachine: Sendable {
    public struct Configuration: Sendable {
        public var mode: WriteMode
        public var sourceTopic: String
        public var partition: Int32
        /// The remote topic (named in reports and park reasons).
        public var remoteTopic: String
        /// Translate mode: how fetched batches become the batches produced.
        public var rewriter: MirrorBatchRewriter
        /// Translate mode: the replicator is the remote partition's only writer (prefix naming), so
        /// records past the mapped end are exactly duplicates. With identity naming the target's own
        /// producers write there too: such records are reported, not counted.
        public var duplicatesAreExact: Bool
        public var syncEveryRecords: Int64 = 10_000
        public var syncIntervalMs: Int64 = 1_000
        public var firstBackoffMs: Int64 = 100
        public var maxBackoffMs: Int64 = 5_000
        public var topicIdCheckIntervalMs: Int64 = 1_000
        public var maxOffsetMapRuns: Int = 1_000

        public init(
            mode: WriteMode, sourceTopic: String, partition: Int32, remoteTopic: String,
            rewriter: MirrorBatchRewriter, duplicatesAreExact: Bool
        ) {
            self.mode = mode
            self.sourceTopic = sourceTopic
            self.partition = partition
            self.remoteTopic = remoteTopic
            self.rewriter = rewriter
            self.duplicatesAreExact = duplicatesAreExact
        }
    }

    /// The offsets a (re)start resumes from.
    public struct Positions: Sendable, Equatable {
        public var sourceLogStart: Int64
        public var sourceLogEnd: Int64
        public var targetEnd: Int64

        public init(sourceLogStart: Int64, sourceLogEnd: Int64, targetEnd: Int64) {
            self.sourceLogStart = sourceLogStart
            self.sourceLogEnd = sourceLogEnd
            self.targetEnd = targetEnd
        }
    }

    /// A fetch's answer for the partition, batches included.
    public struct FetchedBatches: Sendable {
        /// Whole batches in offset order; the first may start before the requested offset.
        public var batches: [StoredBatch]
        public var highWatermark: Int64
        /// -1 when unknown.
        public var logStartOffset: Int64
        /// Translate mode (read_committed): the aborted transactions overlapping the batches.
        public var abortedTransactions: [AbortedTransactionFilter.AbortedTransaction]

        public init(
            batches: [StoredBatch], highWatermark: Int64, logStartOffset: Int64,
            abortedTransactions: [AbortedTransactionFilter.AbortedTransaction] = []
        ) {
            self.batches = batches
            self.highWatermark = highWatermark
            self.logStartOffset = logStartOffset
            self.abortedTransactions = abortedTransactions
        }
    }

    public enum FetchAnswer: Sendable {
        case batches(FetchedBatches)
        /// OFFSET_OUT_OF_RANGE: the position is outside the source log.
        case offsetOutOfRange
        /// Any other error, with the Kafka error code and message (or the client's error).
        case failed(String)

        var failed: Bool {
            if case .batches = self { return false }
            return true
        }
    }

    public enum WriteFailure: Sendable, Equatable {
        /// The target answered with an error (`error`: Kafka's name and code, e.g.
        /// "INVALID_TIMESTAMP (32)"; `message`: the broker's): the batch was not appended.
        case refused(error: String, message: String)
        /// No answer (connection lost, timeout): the batch may or may not have been appended.
        case unanswered(String)
    }

    public enum Event: Sendable {
        /// The partition mirror task starts.
        case started
        /// Answer to `listPositions`.
        case positionsListed(Positions)
        case positionsUnavailable(String)
        /// Answer to `fetch(from:)`.
        case fetched(from: Int64, FetchAnswer)
        /// Answer to `lookUpTopicId`: the source topic's ID, nil when unknown (no answer, or a
        /// broker without topic IDs).
        case topicIdSeen(KafkaUUID?)
        /// Every batch of the write was accepted. Translate: the target offset each batch's first
        /// record got, in order; preserve: empty (the batches keep their offsets).
        case written(targetBaseOffsets: [Int64])
        /// Translate: the first batches were accepted (their target base offsets), then one failed.
        case partiallyWritten(targetBaseOffsets: [Int64], WriteFailure)
        /// Nothing of the write was accepted.
        case writeFailed(WriteFailure)
        case offsetSyncsWritten
        case offsetSyncsFailed(String)
        /// Answer to `sleep(until:)`.
        case tick
        /// Shut down (graceful shutdown, or the source topic was deleted with its remote topic).
        case stop
    }

    public enum Report: Sendable, Equatable {
        /// Mirroring (re)starts at this source offset.
        case resuming(at: Int64)
        /// Translate, first start with no offset map: the remote partition already holds records
        /// (not this link's); mirrored records follow them.
        case targetAlreadyHoldsRecords(targetEnd: Int64)
        case gap(Gap)
        /// Translate, prefix naming: the target held `targetOffsets` past the mapped end at the
        /// restart that resumed at `resumeAt`; mirrored again from there. Reported (and counted)
        /// once an offset sync at or past their end is written.
        case duplicates(count: Int64, targetOffsets: Range<Int64>, resumeAt: Int64)
        /// Translate, identity naming: the target holds records past the mapped end, some maybe
        /// the target's own producers'.
        case unmappedTargetRecords(targetOffsets: Range<Int64>, resumeAt: Int64)
        /// The source log ends below the mirrored position (truncated); restarting at its start.
        case sourceBehind(position: Int64, sourceLog: Range<Int64>)
        case topicRecreated(old: KafkaUUID, new: KafkaUUID, mirroredUpTo: Int64)
        /// The target refused the batch holding these source offsets; retried after the backoff.
        case refused(sourceOffsets: Range<Int64>, error: String, message: String, retryInMs: Int64)
        /// A fetch, listing, write or offset-sync write failed; retried after the backoff.
        case failed(String, retryInMs: Int64)
        /// Stopping: the last offset syncs could not be written (the next start re-mirrors from the previous one).
        case lastOffsetSyncsLost(String)
    }

    public enum ParkReason: Sendable, Equatable, CustomStringConvertible {
        /// Preserve mode: the source topic was re-created.
        case sourceTopicRecreated(
            topic: String, remoteTopic: String, old: KafkaUUID, new: KafkaUUID, mirroredUpTo: Int64)

        public var description: String {
            switch self {
            case let .sourceTopicRecreated(topic, remote, old, new, mirroredUpTo):
                "source topic \(topic) was re-created (topic id \(old) → \(new)) after offsets up to \(mirroredUpTo) were mirrored; "
                    + "the mirror topic \(remote) holds the old topic's records at offsets the new topic reuses, so this partition "
                    + "stopped mirroring. To mirror the new topic, delete \(remote) at the target and restart the replicator: "
                    + "the link creates it again and mirrors the new topic from its start"
            }
        }
    }

    public enum Action: Sendable, Equatable {
        /// ListOffsets: source earliest and latest, target latest; answer `positionsListed`.
        case listPositions
        /// Start a fetch at this offset (long poll); answer `fetched` once nothing else is to do.
        case fetch(from: Int64)
        /// Drop the fetch in flight (its answer is not wanted).
        case cancelFetch
        /// The source topic's ID from metadata (refreshed first when asked); answer `topicIdSeen`.
        case lookUpTopicId(refreshMetadata: Bool)
        /// Preserve: one StraitMirrorAppend with these batches; answer `written` or `writeFailed`.
        case appendPreserving(MirrorBatches, sourceLogStart: Int64)
        /// Translate: produce these batches in order (pipelined on one connection); answer
        /// `written`, `partiallyWritten` or `writeFailed`.
        case produce(MirrorBatches)
        /// Append to the offset-syncs topic, in order; answer `offsetSyncsWritten` or `offsetSyncsFailed`.
        case writeOffsetSyncs([OffsetSync])
        /// Answer `tick` at this time.
        case sleep(until: Int64)
        /// Log it (the counters are already updated).
        case report(Report)
        /// Stop mirroring this partition until an operator acts (log it at error).
        case park(ParkReason)
    }

    public enum Phase: Sendable, Equatable {
        case notStarted
        /// Waiting for `positionsListed`.
        case listing
        case mirroring
        case backingOff(until: Int64)
        case parked(ParkReason)
        /// Writing the last offset syncs.
        case stopping
        case stopped
    }

    /// What the status endpoint shows for the partition.
    public struct Status: Sendable, Equatable {
        /// The next source offset to mirror.
        public var mirroredOffset: Int64 = 0
        /// The source's high watermark at the last fetch.
        public var sourceEndOffset: Int64 = 0
        /// When that fetch was answered (ms since the epoch; nil before the first): what an
        /// unplanned failover reports its possible loss from.
        public var sourceEndSeenAt: Int64?
        /// Timestamp of the first record not yet mirrored (nil when caught up or unknown).
        public var oldestUnmirroredTimestamp: Int64?
        public var counters = PartitionCounters()
        public var lastError: String?
    }

    public let configuration: Configuration
    public private(set) var phase: Phase = .notStarted
    public private(set) var status = Status()
    /// The source topic's ID, as first seen (and after a re-creation, the new one).
    public private(set) var topicId: KafkaUUID?

    /// Translate: where every mirrored record landed (pruned, see the type's documentation).
    private var offsetMap: OffsetMap
    private var emitter: OffsetSyncEmitter
    private var pendingSyncs: [OffsetSync] = []
    private var syncsInFlight: [OffsetSync] = []
    /// Translate: one past the newest target offset this link wrote (or the target's end when
    /// the current offset map began); the target holding more means duplicates.
    private var mappedTargetEnd: Int64?
    /// Translate, prefix naming: duplicates found by restarts, waiting for an offset sync at or
    /// past their end to be written before they are counted.
    private var uncountedDuplicates: [(targetOffsets: Range<Int64>, resumeAt: Int64)] = []
    private var sourceLogStart: Int64?
    private var listedBefore = false
    private var resetOffsetMapAtListing = false
    private var fetchingFrom: Int64?
    /// A fetch answer held while the topic ID is looked up.
    private var heldAnswer: FetchAnswer?
    private var nextTopicIdCheck: Int64 = .min
    private var writing: PendingWrite?
    private var consecutiveFailures = 0

    /// One fetched batch of the write in flight, and what it counts once accepted.
    private struct WriteEntry {
        /// The source offsets it covers, from the position (records below it left out).
        var span: Range<Int64>
        /// Produced at the target (false: a translate-mode batch passed over, e.g. a marker).
        var produced: Bool
        var sourceOffsets = SourceOffsets()
        var records: Int64 = 0
        var bytes: Int64 = 0
        var loopRecordsSkipped: Int64 = 0
    }

    private struct PendingWrite {
        var entries: [WriteEntry]
    }

    /// - Parameter offsetMap: translate mode, the map rebuilt from the offset syncs (empty for a new link).
    public init(_ configuration: Configuration, offsetMap: OffsetMap = OffsetMap()) {
        self.configuration = configuration
        self.offsetMap = offsetMap
        self.emitter = OffsetSyncEmitter(
            topic: configuration.sourceTopic, partition: configuration.partition,
            maxRecordsBetweenSyncs: configuration.syncEveryRecords,
            maxIntervalMs: configuration.syncIntervalMs)
    }

    /// What checkpoints translate committed offsets with: translate, the offset map; preserve,
    /// identity over what has been mirrored from the source's log start; nil before anything is.
    public var translationMap: OffsetMap? {
        switch configuration.mode {
        case .translate:
            return offsetMap.isEmpty ? nil : offsetMap
        case .preserve:
            guard phase != .notStarted else { return nil }
            let next = status.mirroredOffset
            let start = min(sourceLogStart ?? next, next)
            guard start < next else { return nil }
            return OffsetMap(runs: [OffsetRun(sourceStart: start, targetStart: start, length: next - start)])
        }
    }

    private var next: Int64 {
        get { status.mirroredOffset }
        set { status.mirroredOffset = newValue }
    }

    public mutating func handle(_ event: Event, now: Int64) -> [Action] {
        switch event {
        case .started:
            guard phase == .notStarted else { return [] }
            phase = .listing
            return [.listPositions]

        case let .positionsListed(positions):
            guard phase == .listing else { return [] }
            return resume(at: positions, now: now)

        case let .positionsUnavailable(reason):
            guard phase == .listing else { return [] }
            return fail("listing offsets failed: \(reason)", now: now)

        case let .fetched(from, answer):
            guard phase == .mirroring, fetchingFrom == from else { return [] }
            fetchingFrom = nil
            guard from == next else { return [startFetch()] }
            if answer.failed || now >= nextTopicIdCheck {
                // Before the answer is used: a re-created topic's offsets mean other records.
                nextTopicIdCheck = now + configuration.topicIdCheckIntervalMs
                heldAnswer = answer
                return [.lookUpTopicId(refreshMetadata: answer.failed)]
            }
            return take(answer, now: now)

        case let .topicIdSeen(id):
            guard phase == .mirroring, let answer = heldAnswer else { return [] }
            heldAnswer = nil
            if let id, let known = topicId, id != known { return sourceTopicRecreated(old: known, new: id, now: now) }
            if let id { topicId = id }
            return take(answer, now: now)

        case let .written(targetBaseOffsets):
            guard phase == .mirroring, let write = writing else { return [] }
            writing = nil
            consecutiveFailures = 0
            _ = apply(write, targetBaseOffsets: targetBaseOffsets, now: now)
            return dueSyncs(now: now)

        case let .partiallyWritten(targetBaseOffsets, failure):
            guard phase == .mirroring, let write = writing else { return [] }
            writing = nil
            let failedEntry = apply(write, targetBaseOffsets: targetBaseOffsets, now: now)
            return writeFailed(failure, entry: failedEntry, now: now)

        case let .writeFailed(failure):
            guard phase == .mirroring, let write = writing else { return [] }
            writing = nil
            return writeFailed(failure, entry: write.entries.first { $0.produced }, now: now)

        case .offsetSyncsWritten:
            let counted = countDuplicates(accountedForBy: syncsInFlight)
            syncsInFlight = []
            if phase == .stopping { phase = .stopped }
            return counted

        case let .offsetSyncsFailed(reason):
            pendingSyncs = syncsInFlight + pendingSyncs
            syncsInFlight = []
            if phase == .stopping {
                phase = .stopped
                return [.report(.lastOffsetSyncsLost(reason))]
            }
            guard phase == .mirroring else { return [] }
            return fail("writing offset syncs failed: \(reason)", now: now)

        case .tick:
            guard case let .backingOff(until) = phase else { return [] }
            if now < until { return [.sleep(until: until)] }
            phase = .listing
            return [.listPositions]

        case .stop:
            switch phase {
            case .stopping, .stopped: return []
            case .notStarted, .parked:
                phase = .stopped
                return []
            case .listing, .mirroring, .backingOff:
                break
            }
            var actions: [Action] = fetchingFrom == nil ? [] : [.cancelFetch]
            fetchingFrom = nil
            heldAnswer = nil
            writing = nil
            pendingSyncs = syncsInFlight + pendingSyncs + emitter.flush(now: now)
            syncsInFlight = []
            guard !pendingSyncs.isEmpty else {
                phase = .stopped
                return actions
            }
            phase = .stopping
            actions.append(writeSyncs())
            return actions
        }
    }

    // MARK: Steps

    /// Where a (re)start resumes, and what the target holding more than mapped means.
    private mutating func resume(at positions: Positions, now: Int64) -> [Action] {
        phase = .mirroring
        var actions: [Action] = []
        var resume: Int64
        switch configuration.mode {
        case .preserve:
            resume = positions.targetEnd <= 0 ? positions.sourceLogStart : positions.targetEnd
        case .translate:
            if resetOffsetMapAtListing {
                resetOffsetMapAtListing = false
                offsetMap = OffsetMap()
                mappedTargetEnd = positions.targetEnd
                pendingSyncs += emitter.sourceReset(targetEndOffset: positions.targetEnd, now: now)
                resume = positions.sourceLogStart
            } else if listedBefore {
                resume = next
            } else {
                resume = offsetMap.sourceEnd ?? positions.sourceLogStart
                mappedTargetEnd = offsetMap.targetEnd ?? positions.targetEnd
                if offsetMap.isEmpty && positions.targetEnd > 0 {
                    actions.append(.report(.targetAlreadyHoldsRecords(targetEnd: positions.targetEnd)))
                }
            }
            let mapped = mappedTargetEnd ?? positions.targetEnd
            if positions.targetEnd > mapped {
                let extra = mapped..<positions.targetEnd
                if configuration.duplicatesAreExact {
                    uncountedDuplicates.append((extra, resume))
                } else {
                    actions.append(.report(.unmappedTargetRecords(targetOffsets: extra, resumeAt: resume)))
                }
                // What the target holds now is accounted for: a later restart compares against it.
                mappedTargetEnd = positions.targetEnd
            }
        }
        listedBefore = true
        noteSourceLogStart(positions.sourceLogStart)
        if resume < positions.sourceLogStart {
            actions.append(gap(resume..<positions.sourceLogStart, .sourceLogStartMoved))
            resume = positions.sourceLogStart
        } else if resume > positions.sourceLogEnd {
            let log = positions.sourceLogStart..<max(positions.sourceLogStart, positions.sourceLogEnd)
            status.counters.errors += 1
            status.lastError = "source behind mirrored position \(resume): [\(log.lowerBound), \(log.upperBound))"
            actions.append(.report(.sourceBehind(position: resume, sourceLog: log)))
            resume = positions.sourceLogStart
        }
        next = resume
        // The first answer after every (re)start waits for the topic id: a restart may follow a
        // re-creation (the source behind the position, a failed fetch).
        nextTopicIdCheck = .min
        actions.append(.report(.resuming(at: resume)))
        actions.append(startFetch())
        return actions + dueSyncs(now: now)
    }

    /// Counts and reports the duplicates that these written offset syncs account for: once a sync
    /// at or past their end is in the offset syncs, a map rebuilt from them ends past them too.
    private mutating func countDuplicates(accountedForBy syncs: [OffsetSync]) -> [Action] {
        guard let newest = syncs.map(\.downstreamOffset).max() else { return [] }
        var actions: [Action] = []
        var waiting: [(targetOffsets: Range<Int64>, resumeAt: Int64)] = []
        for found in uncountedDuplicates {
            guard found.targetOffsets.upperBound <= newest + 1 else {
                waiting.append(found)
                continue
            }
            let count = Int64(found.targetOffsets.count)
            status.counters.duplicates += count
            actions.append(
                .report(.duplicates(count: count, targetOffsets: found.targetOffsets, resumeAt: found.resumeAt)))
        }
        uncountedDuplicates = waiting
        return actions
    }

    /// Acts on a fetch answer (the topic ID checked already when due).
    private mutating func take(_ answer: FetchAnswer, now: Int64) -> [Action] {
        switch answer {
        case .offsetOutOfRange:
            // The listing tells a gap (log start above the position) from a truncated source.
            phase = .listing
            return [.listPositions]
        case let .failed(reason):
            return fail(reason, now: now)
        case let .batches(fetched):
            return mirror(fetched, now: now)
        }
    }

    private mutating func mirror(_ fetched: FetchedBatches, now: Int64) -> [Action] {
        var actions: [Action] = []
        status.sourceEndOffset = fetched.highWatermark
        status.sourceEndSeenAt = now
        if fetched.logStartOffset >= 0 {
            noteSourceLogStart(fetched.logStartOffset)
            if fetched.logStartOffset > next {
                actions.append(gap(next..<fetched.logStartOffset, .sourceLogStartMoved))
                next = fetched.logStartOffset
            }
        }
        let batches = fetched.batches.filter { $0.header.nextOffset > next }
        status.oldestUnmirroredTimestamp = batches.first?.header.baseTimestamp
        guard let last = batches.last else {
            // Caught up (or idle): the newest position still gets its offset sync within the interval.
            consecutiveFailures = 0
            return actions + [startFetch()] + dueSyncs(now: now)
        }
        let ahead = last.header.nextOffset
        switch configuration.mode {
        case .preserve:
            writing = PendingWrite(entries: [
                WriteEntry(
                    span: next..<ahead, produced: true,
                    records: batches.reduce(0) { $0 + Int64($1.header.recordsCount) },
                    bytes: batches.reduce(0) { $0 + Int64($1.bytes.readableBytes) })
            ])
            return actions + [
                startFetch(at: ahead), .appendPreserving(MirrorBatches(batches), sourceLogStart: fetched.logStartOffset)
            ]
        case .translate:
            let skipped = AbortedTransactionFilter.skipped(batches.map(\.header), aborted: fetched.abortedTransactions)
            var entries: [WriteEntry] = []
            var outgoing: [StoredBatch] = []
            var position = next
            for (batch, skip) in zip(batches, skipped) {
                var entry = WriteEntry(span: position..<batch.header.nextOffset, produced: false)
                if !skip {
                    let result: MirrorBatchRewriter.Result
                    do {
                        result = try configuration.rewriter.rewrite(batch, from: position)
                    } catch {
                        return actions
                            + fail(
                                "cannot rewrite the batch at source offset \(batch.header.baseOffset): \(error)",
                                now: now)
                    }
                    entry.loopRecordsSkipped = Int64(result.skippedFromTarget)
                    if let written = result.batch {
                        entry.produced = true
                        entry.sourceOffsets = result.sourceOffsets
                        entry.records = result.sourceOffsets.count
                        entry.bytes = Int64(written.bytes.readableBytes)
                        outgoing.append(written)
                    }
                }
                entries.append(entry)
                position = batch.header.nextOffset
            }
            guard !outgoing.isEmpty else {
                // Markers, aborted data, loop records only: passed over.
                _ = apply(PendingWrite(entries: entries), targetBaseOffsets: [], now: now)
                return actions + [startFetch()] + dueSyncs(now: now)
            }
            writing = PendingWrite(entries: entries)
            return actions + [startFetch(at: ahead), .produce(MirrorBatches(outgoing))]
        }
    }

    /// Counts what the target accepted and advances past it: preserve, the whole write;
    /// translate, the produced batches that got a target offset and the passed-over batches
    /// before the first that did not. Returns that first unaccepted entry, if any.
    private mutating func apply(_ write: PendingWrite, targetBaseOffsets: [Int64], now: Int64) -> WriteEntry? {
        var offsets = targetBaseOffsets[...]
        for entry in write.entries {
            if entry.produced && configuration.mode == .translate {
                guard let base = offsets.popFirst() else { return entry }
                offsetMap.record(entry.sourceOffsets, targetBaseOffset: base)
                pendingSyncs += emitter.written(entry.sourceOffsets, targetBaseOffset: base, now: now)
                mappedTargetEnd = base + entry.sourceOffsets.count
            }
            status.counters.recordsMirrored += entry.records
            status.counters.bytesMirrored += entry.bytes
            status.counters.loopRecordsSkipped += entry.loopRecordsSkipped
            next = max(next, entry.span.upperBound)
        }
        if offsetMap.runs.count > configuration.maxOffsetMapRuns {
            offsetMap.prune(keepingAtMost: configuration.maxOffsetMapRuns)
        }
        if next >= status.sourceEndOffset { status.oldestUnmirroredTimestamp = nil }
        return nil
    }

    private mutating func writeFailed(_ failure: WriteFailure, entry: WriteEntry?, now: Int64) -> [Action] {
        switch failure {
        case let .refused(error, message):
            let span = entry?.span ?? next..<next
            let delay = backoff(now: now)
            status.counters.errors += 1
            status.lastError =
                "target refused source offsets [\(span.lowerBound), \(span.upperBound)): \(error): \(message)"
            return cancelFetch() + [
                .report(.refused(sourceOffsets: span, error: error, message: message, retryInMs: delay)),
                .sleep(until: now + delay)
            ]
        case let .unanswered(reason):
            return fail("write to \(configuration.remoteTopic)-\(configuration.partition) failed: \(reason)", now: now)
        }
    }

    private mutating func sourceTopicRecreated(old: KafkaUUID, new: KafkaUUID, now: Int64) -> [Action] {
        topicId = new
        status.counters.errors += 1
        status.lastError = "source topic re-created (id \(old) → \(new))"
        var actions: [Action] = [.report(.topicRecreated(old: old, new: new, mirroredUpTo: next))]
        switch configuration.mode {
        case .preserve:
            let reason = ParkReason.sourceTopicRecreated(
                topic: configuration.sourceTopic, remoteTopic: configuration.remoteTopic,
                old: old, new: new, mirroredUpTo: next)
            phase = .parked(reason)
            status.lastError = "\(reason)"
            return actions + [.park(reason)]
        case .translate:
            if status.sourceEndOffset > next { actions.append(gap(next..<status.sourceEndOffset, .topicRecreated)) }
            resetOffsetMapAtListing = true
            sourceLogStart = nil
            phase = .listing
            return actions + [.listPositions]
        }
    }

    /// A failure: count it, report it, back off; the restart lists the positions again.
    private mutating func fail(_ reason: String, now: Int64) -> [Action] {
        let delay = backoff(now: now)
        status.counters.errors += 1
        status.lastError = reason
        return cancelFetch() + [.report(.failed(reason, retryInMs: delay)), .sleep(until: now + delay)]
    }

    /// The next backoff (first, doubling, at most the maximum), entering `backingOff`.
    private mutating func backoff(now: Int64) -> Int64 {
        let shift = min(consecutiveFailures, 30)
        let delay = min(configuration.firstBackoffMs << shift, configuration.maxBackoffMs)
        consecutiveFailures += 1
        heldAnswer = nil
        writing = nil
        phase = .backingOff(until: now + delay)
        return delay
    }

    private mutating func cancelFetch() -> [Action] {
        guard fetchingFrom != nil else { return [] }
        fetchingFrom = nil
        return [.cancelFetch]
    }

    private mutating func startFetch(at offset: Int64? = nil) -> Action {
        let offset = offset ?? next
        fetchingFrom = offset
        return .fetch(from: offset)
    }

    private mutating func gap(_ range: Range<Int64>, _ cause: Gap.Cause) -> Action {
        let gap = Gap(start: range.lowerBound, end: range.upperBound, cause: cause)
        status.counters.gaps += 1
        status.counters.gapOffsets += gap.count
        status.lastError = "\(gap)"
        return .report(.gap(gap))
    }

    /// Offsets below the source's log start can no longer be committed meaningfully.
    private mutating func noteSourceLogStart(_ logStart: Int64) {
        guard logStart > (sourceLogStart ?? .min) else { return }
        sourceLogStart = logStart
        if configuration.mode == .translate && !offsetMap.isEmpty { offsetMap.prune(sourceLogStart: logStart) }
    }

    /// Translate: the offset syncs due now (and any left from before), unless a write of them is in flight.
    private mutating func dueSyncs(now: Int64) -> [Action] {
        guard configuration.mode == .translate else { return [] }
        pendingSyncs += emitter.tick(now: now)
        guard !pendingSyncs.isEmpty, syncsInFlight.isEmpty else { return [] }
        return [writeSyncs()]
    }

    private mutating func writeSyncs() -> Action {
        syncsInFlight = pendingSyncs
        pendingSyncs = []
        return .writeOffsetSyncs(syncsInFlight)
    }
}
