import KafkaProtocol

/// Planned: the primary answers; its producers are fenced and the link drains before promotion.
/// Unplanned: it does not; the standby is promoted at what it holds, and what may be lost is
/// reported from the last source end offsets the link saw.
public enum FailoverKind: String, Sendable, Codable, Equatable {
    case planned
    case unplanned
}

/// One partition a failover moves: the old primary's partition and its mirror at the new primary.
public struct FailoverPartition: Sendable, Codable, Hashable, Comparable, CustomStringConvertible {
    public var sourceTopic: String
    public var targetTopic: String
    public var partition: PartitionIndex

    public init(sourceTopic: String, targetTopic: String, partition: PartitionIndex) {
        self.sourceTopic = sourceTopic
        self.targetTopic = targetTopic
        self.partition = partition
    }

    public var source: TopicPartition { TopicPartition(sourceTopic, partition) }
    public var target: TopicPartition { TopicPartition(targetTopic, partition) }
    public var description: String { "\(sourceTopic)-\(partition)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.sourceTopic, lhs.partition) < (rhs.sourceTopic, rhs.partition)
    }
}

/// A source end offset and when it was read (by the failover itself, or by the link before the
/// primary went away).
public struct SeenEndOffset: Sendable, Codable, Equatable {
    public var offset: Offset
    public var atMs: Int64

    public init(offset: Offset, atMs: Int64) {
        self.offset = offset
        self.atMs = atMs
    }
}

/// Where the new primary's copy of one partition stood when it was promoted.
///
/// Offsets are in the primary's numbering (`mirroredOffset`: the next source offset not
/// mirrored) and in the new primary's (`targetEndOffset`: where its producers continue). In
/// preserve mode the two are the same number.
public struct FailoverPoint: Sendable, Codable, Equatable {
    public var sourceTopic: String
    public var targetTopic: String
    public var partition: PartitionIndex
    /// Nil when unknown (a translate-mode link whose status could not be read).
    public var mirroredOffset: Offset?
    public var targetEndOffset: Offset
    /// The primary's end offset: read after the drain (planned), or the last one the link saw
    /// (unplanned; nil when nobody saw one).
    public var sourceEnd: SeenEndOffset?
    /// Records the primary held (as far as anyone saw) that the new primary does not:
    /// `sourceEnd - mirroredOffset`, 0 after a drain; nil when either is unknown.
    public var mayBeLost: Int64?

    public init(
        sourceTopic: String, targetTopic: String, partition: PartitionIndex, mirroredOffset: Offset?,
        targetEndOffset: Offset, sourceEnd: SeenEndOffset?, mayBeLost: Int64?
    ) {
        self.sourceTopic = sourceTopic
        self.targetTopic = targetTopic
        self.partition = partition
        self.mirroredOffset = mirroredOffset
        self.targetEndOffset = targetEndOffset
        self.sourceEnd = sourceEnd
        self.mayBeLost = mayBeLost
    }
}

/// Where a group resumes at the new primary (its committed offset there after the failover).
public struct GroupResume: Sendable, Codable, Equatable {
    public var group: String
    public var topic: String
    public var partition: PartitionIndex
    public var offset: Offset

    public init(group: String, topic: String, partition: PartitionIndex, offset: Offset) {
        self.group = group
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// What a failover leaves at the new primary, durably (a record of `strait-failovers.internal`
/// there, keyed by `from->to`): the failover point of every partition. A link from `from` to `to`
/// that reads it stops; failback reads it to find what diverged.
public struct FailoverRecord: Sendable, Codable, Equatable {
    public var id: String
    public var topology: String
    public var from: String
    public var to: String
    public var kind: FailoverKind
    public var offsets: String
    public var startedAtMs: Int64
    public var promotedAtMs: Int64
    public var points: [FailoverPoint]
    public var groups: [GroupResume]

    public init(
        id: String, topology: String, from: String, to: String, kind: FailoverKind, offsets: String,
        startedAtMs: Int64, promotedAtMs: Int64, points: [FailoverPoint], groups: [GroupResume]
    ) {
        self.id = id
        self.topology = topology
        self.from = from
        self.to = to
        self.kind = kind
        self.offsets = offsets
        self.startedAtMs = startedAtMs
        self.promotedAtMs = promotedAtMs
        self.points = points
        self.groups = groups
    }

    /// The key of the record: one failover state per direction between two sites.
    public static func key(from: String, to: String) -> String { "\(from)->\(to)" }
}

/// The steps of a failover, in the order they run.
public enum FailoverStep: String, Sendable, Codable, Equatable, CaseIterable {
    /// Refuse when a failover of the same direction is recorded at the new primary and not failed back.
    case checkPrevious = "check-previous"
    /// Planned: the primary's topics refuse producers (`strait.fenced`), or, at a cluster that
    /// cannot fence, the failover waits for producers to be stopped by hand.
    case fence
    /// Planned: until every mirror holds the primary's end offset (bounded by the timeout).
    case drain
    /// Planned: the groups' committed offsets at the primary, translated, committed at the new primary.
    case finalGroupSync = "final-group-sync"
    /// Unplanned: the last source end offsets the link saw, against what the new primary holds.
    case assessLoss = "assess-loss"
    /// The mirror topics accept producers (Strait: `strait.mirror.source` deleted).
    case promote
    /// The failover record, written at the new primary.
    case record
    /// The link sees the record and stops (confirmed through the replicator's status when it answers).
    case stopLink = "stop-link"

    public static func steps(_ kind: FailoverKind) -> [FailoverStep] {
        switch kind {
        case .planned: [.checkPrevious, .fence, .drain, .finalGroupSync, .promote, .record, .stopLink]
        case .unplanned: [.checkPrevious, .assessLoss, .promote, .record, .stopLink]
        }
    }
}

/// When each step ended (ms since the epoch), for the report.
public struct StepTime: Sendable, Codable, Equatable {
    public var step: FailoverStep
    public var startedAtMs: Int64
    public var endedAtMs: Int64

    public init(step: FailoverStep, startedAtMs: Int64, endedAtMs: Int64) {
        self.step = step
        self.startedAtMs = startedAtMs
        self.endedAtMs = endedAtMs
    }
}

/// The end of a failover: the record written at the new primary, the step times, and what a
/// person should know (a fence that could not be set, a link whose stop was not confirmed).
public struct FailoverReport: Sendable, Codable, Equatable {
    public var record: FailoverRecord
    public var steps: [StepTime]
    public var notes: [String]
    public var drainedAtMs: Int64?

    public init(record: FailoverRecord, steps: [StepTime], notes: [String], drainedAtMs: Int64?) {
        self.record = record
        self.steps = steps
        self.notes = notes
        self.drainedAtMs = drainedAtMs
    }

    public var mayBeLost: Int64? {
        record.points.reduce(Int64(0)) { total, point in
            guard let total, let lost = point.mayBeLost else { return nil }
            return total + lost
        }
    }
}

/// The decisions of one failover from site `from` to site `to`, free of I/O: the runner reports
/// what it did or read as events, and performs the action each event returns.
///
/// Invariants: a recorded, not failed-back failover of the same direction stops it before any
/// change; nothing is promoted before the drain ended (planned); a drain that times out lifts the
/// fence again, so the primary keeps serving; promotion happens before the record is written, so
/// a record always describes promoted topics.
public struct FailoverMachine: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var id: String
        public var topology: String
        public var from: String
        public var to: String
        public var kind: FailoverKind
        public var offsets: WriteMode
        public var partitions: [FailoverPartition]
        /// How long the drain may take before the failover is called off.
        public var drainTimeoutMs: Int64
        /// Between two readings of the positions while draining.
        public var pollIntervalMs: Int64
        /// Without a fence (a cluster that cannot fence), the primary's end offsets must stay
        /// unchanged this long before the drain counts as done: producers are stopped.
        public var quietPeriodMs: Int64

        public init(
            id: String, topology: String, from: String, to: String, kind: FailoverKind, offsets: WriteMode,
            partitions: [FailoverPartition], drainTimeoutMs: Int64 = 60_000, pollIntervalMs: Int64 = 200,
            quietPeriodMs: Int64 = 5_000
        ) {
            self.id = id
            self.topology = topology
            self.from = from
            self.to = to
            self.kind = kind
            self.offsets = offsets
            self.partitions = partitions.sorted()
            self.drainTimeoutMs = drainTimeoutMs
            self.pollIntervalMs = pollIntervalMs
            self.quietPeriodMs = quietPeriodMs
        }
    }

    /// Where the partitions stand: the primary's end offsets (absent when it did not answer),
    /// the next source offset each mirror has not written, and the new primary's end offsets.
    public struct Positions: Sendable, Equatable {
        public var sourceEnd: [FailoverPartition: SeenEndOffset]
        public var mirrored: [FailoverPartition: Offset]
        public var targetEnd: [FailoverPartition: Offset]

        public init(
            sourceEnd: [FailoverPartition: SeenEndOffset], mirrored: [FailoverPartition: Offset],
            targetEnd: [FailoverPartition: Offset]
        ) {
            self.sourceEnd = sourceEnd
            self.mirrored = mirrored
            self.targetEnd = targetEnd
        }
    }

    public enum Event: Sendable, Equatable {
        /// The runner read the latest failover record of this direction at the new primary (nil: none).
        case started(now: Int64, previous: FailoverRecord?)
        case fenced(now: Int64)
        /// The primary refused the fence (not a Strait broker): `reason` is its answer.
        case fenceUnsupported(now: Int64, reason: String)
        case positionsRead(now: Int64, Positions)
        case groupsSynced(now: Int64, [GroupResume])
        case promoted(now: Int64)
        case recorded(now: Int64)
        case linkStopped(now: Int64)
        /// The replicator's status did not confirm the stop: `reason` says why.
        case linkStopUnconfirmed(now: Int64, reason: String)
        /// A step's I/O failed for good (after the runner's own retries).
        case stepFailed(now: Int64, FailoverStep, message: String)
    }

    public enum Action: Sendable, Equatable {
        /// Nothing was changed: a failover of this direction already stands.
        case refuse(String)
        case fence
        /// Read the positions after `afterMs` (planned drain: source end offsets from the primary;
        /// unplanned: the last ones the link saw).
        case readPositions(afterMs: Int64)
        /// Planned: translate the primary's committed group offsets and commit them at the new
        /// primary, up to the drained positions. Unplanned: read what the groups resume from there.
        case syncGroups
        case promote
        case writeRecord(FailoverRecord)
        case confirmLinkStopped
        /// The drain could not finish: lift the fence, then fail with the message.
        case unfenceAndFail(String)
        case fail(String)
        case finish(FailoverReport)
    }

    public let configuration: Configuration
    public private(set) var step: FailoverStep = .checkPrevious
    private var stepStartedAt: Int64 = 0
    private var startedAt: Int64 = 0
    private var times: [StepTime] = []
    private var notes: [String] = []
    private var fenceHeld = false
    private var drainStartedAt: Int64?
    private var drainedAt: Int64?
    /// The last source end offsets seen while draining, and since when they have not moved.
    private var quietSince: (ends: [FailoverPartition: Offset], since: Int64)?
    private var positions: Positions?
    private var groups: [GroupResume] = []
    private var promotedAt: Int64 = 0
    private var record: FailoverRecord?
    private var finished = false

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    public mutating func handle(_ event: Event) -> Action {
        guard !finished else { return .fail("failover \(configuration.id) already ended") }
        switch event {
        case let .started(now, previous):
            startedAt = now
            stepStartedAt = now
            if let previous {
                return end(
                    .refuse(
                        "failover \(previous.id) (\(previous.kind.rawValue), \(previous.from) → \(previous.to)) is recorded at \(previous.to) and was not failed back; nothing was changed. Fail back first: strait failback FILE --to \(previous.from)"
                    ))
            }
            guard !configuration.partitions.isEmpty else {
                return end(
                    .fail(
                        "link \(configuration.from) → \(configuration.to) mirrors no partition yet: nothing to fail over"
                    ))
            }
            switch configuration.kind {
            case .planned: return advance(to: .fence, at: now, then: .fence)
            case .unplanned: return advance(to: .assessLoss, at: now, then: .readPositions(afterMs: 0))
            }

        case let .fenced(now):
            guard step == .fence else { return unexpected(event) }
            fenceHeld = true
            drainStartedAt = now
            return advance(to: .drain, at: now, then: .readPositions(afterMs: 0))

        case let .fenceUnsupported(now, reason):
            guard step == .fence else { return unexpected(event) }
            notes.append(
                "\(configuration.from) cannot fence its topics (\(reason)): stop its producers; the drain waits until its end offsets stay unchanged for \(configuration.quietPeriodMs) ms"
            )
            drainStartedAt = now
            return advance(to: .drain, at: now, then: .readPositions(afterMs: 0))

        case let .positionsRead(now, read):
            switch step {
            case .drain: return drain(read, now: now)
            case .assessLoss:
                positions = read
                if read.sourceEnd.isEmpty {
                    notes.append(
                        "no source end offsets were seen by a link (the replicator's status did not answer): what may be lost is unknown"
                    )
                }
                // The assessment ends once the groups' resume offsets at the new primary are read.
                return .syncGroups
            default: return unexpected(event)
            }

        case let .groupsSynced(now, resumes):
            guard step == .finalGroupSync || step == .assessLoss else { return unexpected(event) }
            groups = resumes
            return advance(to: .promote, at: now, then: .promote)

        case let .promoted(now):
            guard step == .promote else { return unexpected(event) }
            promotedAt = now
            let record = makeRecord()
            self.record = record
            return advance(to: .record, at: now, then: .writeRecord(record))

        case let .recorded(now):
            guard step == .record else { return unexpected(event) }
            return advance(to: .stopLink, at: now, then: .confirmLinkStopped)

        case let .linkStopped(now):
            guard step == .stopLink else { return unexpected(event) }
            return finish(at: now)

        case let .linkStopUnconfirmed(now, reason):
            guard step == .stopLink else { return unexpected(event) }
            notes.append(
                "the link's stop was not confirmed (\(reason)); a link that starts reads the failover record and stays stopped"
            )
            return finish(at: now)

        case let .stepFailed(_, failedStep, message):
            let why = "failover \(configuration.id) failed at step \(failedStep.rawValue): \(message)"
            if fenceHeld && [.fence, .drain, .finalGroupSync].contains(failedStep) {
                fenceHeld = false
                return end(.unfenceAndFail(why + "; nothing was promoted"))
            }
            if [.record, .stopLink].contains(failedStep) {
                return end(.fail(why + "; the topics at \(configuration.to) are already promoted"))
            }
            return end(.fail(why))
        }
    }

    private mutating func drain(_ read: Positions, now: Int64) -> Action {
        let started = drainStartedAt ?? now
        var behind: [String] = []
        for partition in configuration.partitions {
            guard let end = read.sourceEnd[partition]?.offset else {
                behind.append("\(partition): the primary did not answer")
                continue
            }
            guard let mirrored = read.mirrored[partition] else {
                behind.append("\(partition): the mirrored position is unknown")
                continue
            }
            if mirrored < end { behind.append("\(partition): \(end - mirrored) records behind") }
        }
        // The end offsets must read the same twice: a produce admitted just before the fence
        // may still be appending at the first reading. Without a fence, for the quiet period.
        let ends = read.sourceEnd.mapValues(\.offset)
        let required = fenceHeld ? 0 : configuration.quietPeriodMs
        var quiet = false
        if let previous = quietSince, previous.ends == ends {
            quiet = now - previous.since >= required
        } else {
            quietSince = (ends, now)
        }
        if behind.isEmpty && quiet {
            positions = read
            drainedAt = now
            return advance(to: .finalGroupSync, at: now, then: .syncGroups)
        }
        if now - started >= configuration.drainTimeoutMs {
            let why =
                behind.isEmpty
                ? "the primary's end offsets kept moving (its producers were not stopped)"
                : behind.prefix(10).joined(separator: ", ") + (behind.count > 10 ? ", …" : "")
            let message =
                "failover \(configuration.id): the drain did not finish within \(configuration.drainTimeoutMs) ms (\(why)); nothing was promoted"
            if fenceHeld {
                fenceHeld = false
                return end(.unfenceAndFail(message + "; the fence is lifted"))
            }
            return end(.fail(message))
        }
        return .readPositions(afterMs: configuration.pollIntervalMs)
    }

    private func makeRecord() -> FailoverRecord {
        let read = positions ?? Positions(sourceEnd: [:], mirrored: [:], targetEnd: [:])
        let points = configuration.partitions.map { partition in
            let mirrored = read.mirrored[partition]
            let sourceEnd = read.sourceEnd[partition]
            var mayBeLost: Int64?
            if let mirrored, let sourceEnd { mayBeLost = max(0, sourceEnd.offset - mirrored) }
            return FailoverPoint(
                sourceTopic: partition.sourceTopic, targetTopic: partition.targetTopic, partition: partition.partition,
                mirroredOffset: mirrored, targetEndOffset: read.targetEnd[partition] ?? mirrored ?? 0,
                sourceEnd: sourceEnd, mayBeLost: mayBeLost)
        }
        return FailoverRecord(
            id: configuration.id, topology: configuration.topology, from: configuration.from, to: configuration.to,
            kind: configuration.kind, offsets: configuration.offsets.rawValue, startedAtMs: startedAt,
            promotedAtMs: promotedAt, points: points, groups: groups)
    }

    private mutating func advance(to next: FailoverStep, at now: Int64, then action: Action) -> Action {
        times.append(StepTime(step: step, startedAtMs: stepStartedAt, endedAtMs: now))
        step = next
        stepStartedAt = now
        return action
    }

    private mutating func finish(at now: Int64) -> Action {
        times.append(StepTime(step: step, startedAtMs: stepStartedAt, endedAtMs: now))
        guard let record else { return end(.fail("failover \(configuration.id) ended without a record")) }
        return end(.finish(FailoverReport(record: record, steps: times, notes: notes, drainedAtMs: drainedAt)))
    }

    private mutating func end(_ action: Action) -> Action {
        finished = true
        return action
    }

    private mutating func unexpected(_ event: Event) -> Action {
        end(.fail("failover \(configuration.id): unexpected \(event) during step \(step.rawValue)"))
    }
}
