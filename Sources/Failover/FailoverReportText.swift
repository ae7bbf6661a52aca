import Foundation
import Replication

/// The report of a failover, for people (`strait failover` without `--output json`).
public enum FailoverReportText {
    public static func render(_ report: FailoverReport) -> String {
        let record = report.record
        var lines = [
            "failover \(record.id): \(record.kind.rawValue), \(record.from) → \(record.to) (offsets \(record.offsets))",
            "  \(record.to) is the primary now; the failover point is recorded in strait-failovers.internal there"
        ]
        lines.append("")
        lines.append(
            "  partition                     mirrored   end at \(record.to)   end at \(record.from)   may be lost")
        for point in record.points {
            let name =
                "\(point.sourceTopic)-\(point.partition)"
                + (point.targetTopic == point.sourceTopic ? "" : " → \(point.targetTopic)")
            lines.append(
                "  " + pad(name, 28) + " " + pad(point.mirroredOffset.map(String.init) ?? "?", 10, right: true)
                    + " " + pad(String(point.targetEndOffset), 12, right: true) + " "
                    + pad(point.sourceEnd.map { String($0.offset) } ?? "?", 13, right: true) + " "
                    + pad(point.mayBeLost.map(String.init) ?? "unknown", 13, right: true))
        }
        if let lost = report.mayBeLost {
            let seen = record.points.compactMap(\.sourceEnd?.atMs).min()
            lines.append(
                "  records that may be lost: \(lost)"
                    + (record.kind == .unplanned && seen != nil
                        ? " (from the source end offsets the link saw, the oldest at \(time(seen!)))" : ""))
        } else {
            lines.append("  records that may be lost: unknown for some partitions (no end offset seen)")
        }
        lines.append("")
        if record.groups.isEmpty {
            lines.append("  groups: none has committed offsets for these topics at \(record.to)")
        } else {
            lines.append("  groups resume at \(record.to) from:")
            for resume in record.groups {
                lines.append("    \(resume.group)  \(resume.topic)-\(resume.partition)  offset \(resume.offset)")
            }
        }
        lines.append("")
        lines.append("  steps:")
        for step in report.steps {
            lines.append(
                "    " + pad(step.step.rawValue, 17) + " " + time(step.endedAtMs) + "  ("
                    + String(format: "%.3f", Double(step.endedAtMs - step.startedAtMs) / 1000) + " s)")
        }
        if let first = report.steps.first, let last = report.steps.last {
            lines.append(
                "    total " + String(format: "%.3f", Double(last.endedAtMs - first.startedAtMs) / 1000) + " s")
        }
        for note in report.notes { lines.append("  note: \(note)") }
        return lines.joined(separator: "\n")
    }

    static func time(_ ms: Int64) -> String {
        Date(timeIntervalSince1970: Double(ms) / 1000).formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true))
    }

    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        guard text.count < width else { return text }
        let fill = String(repeating: " ", count: width - text.count)
        return right ? fill + text : text + fill
    }
}
