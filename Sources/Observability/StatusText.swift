import Foundation
import Replicator

/// The text `strait status` prints: per link a summary line, a table of its partitions and a
/// line per problem, then one line with the sum of it all; and, under `--watch`, the frames.
public enum StatusText {
    /// The report of one snapshot. `now` (ms since the epoch) ages the checkpoints' and the
    /// unmirrored records' timestamps.
    public static func render(_ snapshots: [LinkStatus.Snapshot], verdicts: [LinkHealth.Verdict], now: Int64) -> String
    {
        var lines: [String] = []
        for link in snapshots {
            let checkpoint = link.checkpointAgeMs.map { "\(seconds($0)) s ago" } ?? "none yet"
            lines.append(
                "LINK \(link.source) → \(link.target): mode \(link.mode), lag \(link.lagRecords) records, "
                    + "last checkpoint \(checkpoint), link errors \(link.errors)")
            var rows = [
                [
                    "TOPIC", "PARTITION", "MIRRORED", "SOURCE-END", "LAG", "LAG-SECONDS", "RECORDS", "GAPS",
                    "DUPLICATES", "ERRORS"
                ]
            ]
            for partition in link.partitions {
                rows.append([
                    partition.sourceTopic, "\(partition.partition)", "\(partition.mirroredOffset)",
                    "\(partition.sourceEndOffset)",
                    "\(partition.lagRecords)", seconds(LinkHealth.lagMs(partition, now: now) ?? 0),
                    "\(partition.records)",
                    "\(partition.gapOffsets)", "\(partition.duplicates)", "\(partition.errors)"
                ])
            }
            let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let padded = row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                lines.append(("  " + padded.joined(separator: "  ")).trimmingTrailingSpaces())
            }
            let verdict = verdicts.first { $0.source == link.source && $0.target == link.target }
            lines += (verdict?.problems ?? []).map { "  " + describe($0) }
        }
        for verdict in verdicts
        where !snapshots.contains(where: { $0.source == verdict.source && $0.target == verdict.target }) {
            lines.append(
                "LINK \(verdict.source) → \(verdict.target): " + verdict.problems.map(describe).joined(separator: "; "))
        }
        lines.append(summary(verdicts))
        return lines.joined(separator: "\n")
    }

    /// One line per problem, starting with what it means for the exit status.
    public static func describe(_ problem: LinkHealth.Problem) -> String {
        switch problem {
        case .notRunning:
            "DOWN: not running in the process at the status address (a link of the topology file)"
        case .notStarted:
            "DOWN: not started: one of its clusters has not answered yet"
        case let .failedOver(failover):
            "DOWN: stopped by failover \(failover): its topics at the target are promoted (docs/failover.md)"
        case let .checkpointsStalled(age, bound):
            "DOWN: no checkpoint pass succeeded for \(seconds(age)) s (bound \(seconds(bound)) s: 3 checkpoint intervals + 5 s)"
        case let .errorsRising(count):
            "ERRORING: \(count) new \(count == 1 ? "error" : "errors") since the previous snapshot"
        case let .lagRecords(topic, partition, lag, bound):
            "OVER BOUND: \(topic) partition \(partition) lags \(lag) records (--max-lag-records \(bound))"
        case let .lagTime(topic, partition, age, bound):
            "OVER BOUND: \(topic) partition \(partition) lags \(seconds(age)) s (--max-lag-seconds \(seconds(bound)))"
        }
    }

    /// The last line: the exit status in words.
    public static func summary(_ verdicts: [LinkHealth.Verdict]) -> String {
        func names(_ status: LinkHealth.ExitStatus) -> String {
            verdicts.filter { $0.exitStatus == status }.map { "\($0.source) → \($0.target)" }.joined(separator: ", ")
        }
        switch LinkHealth.exitStatus(verdicts) {
        case .ok:
            return verdicts.isEmpty
                ? "status: ok (no links)"
                : "status: ok (\(verdicts.count) \(verdicts.count == 1 ? "link" : "links") up, within bounds)"
        case .linkDown: return "status: link down or erroring: \(names(.linkDown)) (exit 2)"
        case .overLagBound: return "status: over a lag bound: \(names(.overLagBound)) (exit 3)"
        case .unreachable: return "status: unreachable (exit 1)"
        }
    }

    /// Milliseconds as seconds with one decimal.
    static func seconds(_ milliseconds: Int64) -> String { String(format: "%.1f", Double(milliseconds) / 1000) }

    /// How `--watch` shows its frames: on a terminal each frame replaces the last in place
    /// (cursor home, every line cleared to its end, the rest of the screen cleared after it);
    /// elsewhere (a pipe, a file) frames follow one another, separated by an empty line.
    public struct WatchScreen: Sendable, Equatable {
        public var isTerminal: Bool

        public init(isTerminal: Bool) { self.isTerminal = isTerminal }

        static let home = "\u{1B}[H", clearLine = "\u{1B}[K", clearBelow = "\u{1B}[J"

        /// The bytes to write for frame number `index` (0 first): a header line, then `text`.
        public func frame(_ text: String, header: String, index: Int) -> String {
            let lines = [header] + text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if isTerminal {
                return Self.home + lines.map { $0 + Self.clearLine + "\n" }.joined() + Self.clearBelow
            }
            return (index == 0 ? "" : "\n") + lines.map { $0 + "\n" }.joined()
        }
    }

    /// The header of a watch frame: what is watched, how often, and when this frame was taken.
    public static func watchHeader(file: String, intervalSeconds: Double, at date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let every = intervalSeconds == intervalSeconds.rounded() ? "\(Int(intervalSeconds))" : "\(intervalSeconds)"
        return "strait status \(file): every \(every) s, at \(formatter.string(from: date)) (Ctrl-C to stop)"
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var trimmed = self
        while trimmed.last == " " { trimmed.removeLast() }
        return trimmed
    }
}
