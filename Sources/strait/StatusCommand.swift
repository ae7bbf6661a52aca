import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Replicator
import Topology

/// `strait status FILE`: asks the process running the topology's links (its `status:` address)
/// for every link's numbers and prints lag per link and partition.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show replication lag per link and partition of a running topology.")

    @Argument(help: "Topology file.") var file: String
    @Option(help: "Output format: text or json.") var output: GroupsCommand.OutputFormat = .text

    func run() async throws {
        let topology = try loadOrReport(file)
        let address = topology.statusAddress
        guard let url = URL(string: "http://\(address.host):\(address.port)/status") else {
            throw CLIError("bad status address \(address.host):\(address.port)")
        }
        let data: Data
        do {
            (data, _) = try await URLSession.shared.data(from: url)
        } catch {
            throw CLIError("no replicator answers at \(url) (is `strait replicator \(file)` or `strait up \(file)` "
                + "running?): \(error.localizedDescription)")
        }
        if output == .json {
            FileHandle.standardOutput.write(data)
            FileHandle.standardOutput.write(Data("\n".utf8))
            return
        }
        let links = try JSONDecoder().decode([LinkStatus.Snapshot].self, from: data)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var lines: [String] = []
        for link in links {
            let checkpoint = link.checkpointAgeMs.map { String(format: "%.1f s ago", Double($0) / 1000) } ?? "none yet"
            lines.append("LINK \(link.source) → \(link.target): mode \(link.mode), lag \(link.lagRecords) records, last checkpoint \(checkpoint), link errors \(link.errors)")
            var rows = [["TOPIC", "PARTITION", "MIRRORED", "SOURCE-END", "LAG", "LAG-SECONDS", "RECORDS", "GAPS", "DUPLICATES", "ERRORS"]]
            for partition in link.partitions {
                let seconds = partition.oldestUnmirroredTimestamp.map { String(format: "%.1f", Double(max(0, now - $0)) / 1000) } ?? "0"
                rows.append([partition.sourceTopic, "\(partition.partition)", "\(partition.mirroredOffset)", "\(partition.sourceEndOffset)",
                             "\(partition.lagRecords)", seconds, "\(partition.records)", "\(partition.gapOffsets)",
                             "\(partition.duplicates)", "\(partition.errors)"])
            }
            let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                lines.append("  " + row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }
        print(lines.joined(separator: "\n"))
    }
}
