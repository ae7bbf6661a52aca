import Foundation
import Replication

/// What a drill saw, as plain sets and times (filled by the workload; judged by `DrillResult`).
///
/// Every record the drill produces carries its sequence number; the workload notes which
/// numbers each site acknowledged (with the time), which the group consumed (every time it
/// consumed one), and, at the end, which numbers the standby holds.
public struct DrillObservations: Sendable, Equatable {
    /// Sequence number → when the primary acknowledged it (ms since the epoch).
    public var ackedAtPrimary: [Int64: Int64] = [:]
    /// Sequence number → when it was produced (the record's timestamp).
    public var producedAt: [Int64: Int64] = [:]
    public var ackedAtStandby: Set<Int64> = []
    /// Every consumption, duplicates included, at either site.
    public var consumed: [Int64] = []
    /// The sequence numbers the standby's topic holds after the drill.
    public var presentAtStandby: Set<Int64> = []
    /// When the disaster happened (kill) or the failover started (planned).
    public var disasterAt: Int64 = 0
    /// The first record produced at the standby after the failover, and when the group consumed it.
    public var firstStandbyConsumeAt: Int64?

    public init() {}
}

/// The figures of a drill, with the field names `--output json` promises (docs/failover.md).
public struct DrillResult: Sendable, Codable, Equatable {
    public var kind: FailoverKind
    /// Records acknowledged at the primary that the standby does not hold.
    public var acknowledgedLost: Int
    /// What the failover itself reported as possibly lost (from the end offsets it or the link saw).
    public var rpoRecords: Int64?
    /// Age at the disaster of the oldest lost acknowledged record (0 when none was lost).
    public var rpoSeconds: Double
    /// Consumptions beyond the first of a record, across both sites.
    public var reread: Int
    /// Records the standby holds that the group never consumed.
    public var skipped: Int
    /// Disaster (or failover start) to the first record produced and consumed at the standby;
    /// nil when none was.
    public var rtoSeconds: Double?
    public var producedAtPrimary: Int
    public var producedAtStandby: Int
    public var consumed: Int
    /// The failover's own report: its steps and their times.
    public var failover: FailoverReport

    enum CodingKeys: String, CodingKey {
        case kind
        case acknowledgedLost = "acknowledged_lost"
        case rpoRecords = "rpo_records"
        case rpoSeconds = "rpo_seconds"
        case reread, skipped
        case rtoSeconds = "rto_seconds"
        case producedAtPrimary = "produced_at_primary"
        case producedAtStandby = "produced_at_standby"
        case consumed
        case failover
    }

    public init(_ seen: DrillObservations, kind: FailoverKind, failover: FailoverReport) {
        self.kind = kind
        self.failover = failover
        let lost = seen.ackedAtPrimary.keys.filter { !seen.presentAtStandby.contains($0) }
        acknowledgedLost = lost.count
        rpoRecords = failover.mayBeLost
        let oldestLost = lost.compactMap { seen.producedAt[$0] }.min()
        rpoSeconds = oldestLost.map { max(0, Double(seen.disasterAt - $0) / 1000) } ?? 0
        var counts: [Int64: Int] = [:]
        for number in seen.consumed { counts[number, default: 0] += 1 }
        reread = counts.values.reduce(0) { $0 + max(0, $1 - 1) }
        skipped = seen.presentAtStandby.filter { counts[$0] == nil }.count
        rtoSeconds = seen.firstStandbyConsumeAt.map { Double($0 - seen.disasterAt) / 1000 }
        producedAtPrimary = seen.ackedAtPrimary.count
        producedAtStandby = seen.ackedAtStandby.count
        consumed = seen.consumed.count
    }

    /// The bounds a drill run from cron or CI checks; what is over them.
    public func exceeded(maxRPORecords: Int?, maxRTOSeconds: Double?) -> [String] {
        var over: [String] = []
        if let bound = maxRPORecords, acknowledgedLost > bound {
            over.append("acknowledged_lost \(acknowledgedLost) > --max-rpo-records \(bound)")
        }
        if let bound = maxRTOSeconds {
            if let rto = rtoSeconds, rto > bound {
                over.append("rto_seconds \(String(format: "%.3f", rto)) > --max-rto-seconds \(bound)")
            } else if rtoSeconds == nil {
                over.append("no record was produced and consumed at the standby (--max-rto-seconds \(bound))")
            }
        }
        return over
    }

    /// The table for people.
    public var text: String {
        func seconds(_ value: Double?) -> String { value.map { String(format: "%.3f s", $0) } ?? "none" }
        var lines = [
            "drill (\(kind.rawValue) failover \(failover.record.from) → \(failover.record.to), failover \(failover.record.id))",
            "  acknowledged_lost  \(acknowledgedLost)   (records acknowledged at \(failover.record.from), missing at \(failover.record.to))",
            "  rpo_records        \(rpoRecords.map(String.init) ?? "unknown")   (what the failover reported as possibly lost)",
            "  rpo_seconds        \(seconds(rpoSeconds))",
            "  reread             \(reread)",
            "  skipped            \(skipped)",
            "  rto_seconds        \(seconds(rtoSeconds))   (disaster to the first record produced and consumed at \(failover.record.to))",
            "  produced           \(producedAtPrimary) at \(failover.record.from), \(producedAtStandby) at \(failover.record.to); consumed \(consumed)",
            "  steps:"
        ]
        for step in failover.steps {
            lines.append(
                "    \(step.step.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)) "
                    + String(format: "%.3f s", Double(step.endedAtMs - step.startedAtMs) / 1000))
        }
        for note in failover.notes { lines.append("  note: \(note)") }
        return lines.joined(separator: "\n")
    }
}
