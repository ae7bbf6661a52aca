import Replicator

/// What `strait status` decides about the links of a running topology, from the `/status`
/// snapshots: each link's problems against the topology and the command line's bounds, and the
/// exit status that sums them up. Plain values and functions of them; the command does the I/O.
public enum LinkHealth {
    /// The exit statuses of `strait status` (documented in docs/observability.md).
    public enum ExitStatus: Int32, Sendable, Equatable, Comparable {
        /// Every link is up and within the bounds.
        case ok = 0
        /// Nothing answers at the status address, or not with Strait's status JSON.
        case unreachable = 1
        /// A link is down (not running, not started, checkpoints stalled) or its errors rose
        /// since the previous snapshot (`--watch`).
        case linkDown = 2
        /// Every link is up, but a partition lags more than a bound given on the command line.
        case overLagBound = 3

        /// The worse of two statuses: down beats over a bound, which beats ok. Unreachable is
        /// never the sum of link verdicts (it means there were none).
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.severity < rhs.severity }
        private var severity: Int {
            switch self {
            case .ok: 0
            case .overLagBound: 1
            case .linkDown: 2
            case .unreachable: 3
            }
        }
    }

    /// The lag a partition may have (from `--max-lag-records` and `--max-lag-seconds`; nil: not checked).
    public struct Bounds: Sendable, Equatable {
        public var maxLagRecords: Int64?
        public var maxLagMs: Int64?

        public init(maxLagRecords: Int64? = nil, maxLagMs: Int64? = nil) {
            self.maxLagRecords = maxLagRecords
            self.maxLagMs = maxLagMs
        }
    }

    /// A link the topology file names, which the process at its status address should run.
    public struct ExpectedLink: Sendable, Equatable {
        public var source: String
        public var target: String
        public var checkpointIntervalMs: Int64

        public init(source: String, target: String, checkpointIntervalMs: Int64) {
            self.source = source
            self.target = target
            self.checkpointIntervalMs = checkpointIntervalMs
        }

        /// A running link completes a checkpoint pass every interval; the pass writes a heartbeat
        /// to the target and lists the source's groups, so it needs both clusters. Past three
        /// intervals plus 5 s (a failing pass retries its heartbeat write for about 5 s) without
        /// one, the link counts as down.
        public var stalledAfterMs: Int64 { 3 * checkpointIntervalMs + 5_000 }
    }

    /// One thing wrong with a link.
    public enum Problem: Sendable, Equatable {
        /// The process at the status address runs no such link.
        case notRunning
        /// The link has not started: one of its clusters has not answered yet (mode `starting`).
        case notStarted
        /// A failover promoted the link's topics at its target; the link stopped (mode `failed-over`).
        case failedOver(failover: String)
        /// No checkpoint pass succeeded for `ageMs`, longer than `boundMs`.
        case checkpointsStalled(ageMs: Int64, boundMs: Int64)
        /// The link's error count rose by `count` since the previous snapshot.
        case errorsRising(count: Int64)
        /// A partition lags `lag` records, more than `bound`.
        case lagRecords(topic: String, partition: Int32, lag: Int64, bound: Int64)
        /// A partition's oldest record not yet mirrored is `ageMs` old, more than `boundMs`.
        case lagTime(topic: String, partition: Int32, ageMs: Int64, boundMs: Int64)

        public var exitStatus: ExitStatus {
            switch self {
            case .notRunning, .notStarted, .failedOver, .checkpointsStalled, .errorsRising: .linkDown
            case .lagRecords, .lagTime: .overLagBound
            }
        }
    }

    /// One link's verdict.
    public struct Verdict: Sendable, Equatable {
        public var source: String
        public var target: String
        public var problems: [Problem]

        public init(source: String, target: String, problems: [Problem]) {
            self.source = source
            self.target = target
            self.problems = problems
        }

        public var exitStatus: ExitStatus { problems.map(\.exitStatus).max() ?? .ok }
    }

    /// Every link served at the status address, in the order served, then every link of the
    /// topology that is not served. `previous`: the snapshots of the watch's previous frame, to
    /// tell rising errors (a link's errors are counted since its process started, so one
    /// snapshot alone cannot say whether they still happen). `now` in ms since the epoch.
    public static func assess(
        _ snapshots: [LinkStatus.Snapshot], previous: [LinkStatus.Snapshot]? = nil,
        expected: [ExpectedLink], bounds: Bounds, now: Int64
    ) -> [Verdict] {
        func key(_ source: String, _ target: String) -> String { "\(source)->\(target)" }
        let expectedByKey = Dictionary(
            expected.map { (key($0.source, $0.target), $0) }, uniquingKeysWith: { first, _ in first })
        let previousByKey = Dictionary(
            (previous ?? []).map { (key($0.source, $0.target), $0) }, uniquingKeysWith: { first, _ in first })
        var verdicts = snapshots.map { snapshot in
            Verdict(
                source: snapshot.source, target: snapshot.target,
                problems: problems(
                    of: snapshot, expected: expectedByKey[key(snapshot.source, snapshot.target)],
                    previous: previousByKey[key(snapshot.source, snapshot.target)], bounds: bounds, now: now))
        }
        let served = Set(snapshots.map { key($0.source, $0.target) })
        for link in expected where !served.contains(key(link.source, link.target)) {
            verdicts.append(Verdict(source: link.source, target: link.target, problems: [.notRunning]))
        }
        return verdicts
    }

    /// The exit status of a set of verdicts: the worst of them (ok when there are none).
    public static func exitStatus(_ verdicts: [Verdict]) -> ExitStatus {
        verdicts.map(\.exitStatus).max() ?? .ok
    }

    static func problems(
        of snapshot: LinkStatus.Snapshot, expected: ExpectedLink?, previous: LinkStatus.Snapshot?,
        bounds: Bounds, now: Int64
    ) -> [Problem] {
        if snapshot.mode == "starting" { return [.notStarted] }
        if snapshot.mode == "failed-over" { return [.failedOver(failover: snapshot.failover ?? "unknown")] }
        var problems: [Problem] = []
        if let expected, let age = snapshot.checkpointAgeMs, age > expected.stalledAfterMs {
            problems.append(.checkpointsStalled(ageMs: age, boundMs: expected.stalledAfterMs))
        }
        // A restarted process counts from zero again: fewer errors than before is no new error.
        if let previous, snapshot.errors > previous.errors {
            problems.append(.errorsRising(count: snapshot.errors - previous.errors))
        }
        for partition in snapshot.partitions {
            if let bound = bounds.maxLagRecords, partition.lagRecords > bound {
                problems.append(
                    .lagRecords(
                        topic: partition.sourceTopic, partition: partition.partition,
                        lag: partition.lagRecords, bound: bound))
            }
            if let bound = bounds.maxLagMs, let age = lagMs(partition, now: now), age > bound {
                problems.append(
                    .lagTime(topic: partition.sourceTopic, partition: partition.partition, ageMs: age, boundMs: bound))
            }
        }
        return problems
    }

    /// Age of the partition's oldest record not yet mirrored, by its timestamp (nil when caught
    /// up; 0 for a timestamp ahead of this clock).
    public static func lagMs(_ partition: LinkStatus.PartitionStatus, now: Int64) -> Int64? {
        partition.oldestUnmirroredTimestamp.map { max(0, now - $0) }
    }
}
