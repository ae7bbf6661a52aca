import ArgumentParser
import Failover
import Foundation
import Logging
import Replication

/// `strait drill FILE`: rehearses a failover and measures it (docs/failover.md).
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Rehearse a failover with a workload and report RPO and RTO (docs/failover.md).")

    enum Kind: String, ExpressibleByArgument, CaseIterable { case planned, unplanned }

    @Argument(help: "Topology file.") var file: String
    @Option(help: "planned (fence, drain, promote) or unplanned (the primary is taken down abruptly).")
    var kind: Kind = .unplanned
    @Option(help: "The standby that becomes the primary (default: the first link's target).") var to: String?
    @Option(help: "Records per second the producer writes (acks=all).") var rate: Int = 1_000
    @Option(help: "Members of the drill's consumer group.") var consumers: Int = 2
    @Option(help: "Partitions of the drill topic.") var partitions: Int32 = 2
    @Option(help: "The drill topic (default: a name the link mirrors).") var topic: String?
    @Option(help: "Seconds of workload at the primary before the disaster.") var warmup: Double = 5
    @Option(help: "Seconds of workload at the standby after the failover.") var after: Double = 3
    @Option(
        name: .customLong("take-down"),
        help: "External primary, unplanned: the shell command that takes it down.")
    var takeDown: String?
    @Option(
        name: .customLong("data-root"),
        help: "Embedded sites' data folder (default: a temporary one, removed after the drill).")
    var dataRoot: String?
    @Option(
        name: .customLong("acks-file"),
        help: "Write the sequence numbers the primary acknowledged there, one per line (the record keys).")
    var acksFile: String?
    @Option(name: .customLong("max-rpo-records"), help: "Exit 1 when more acknowledged records are lost.")
    var maxRPORecords: Int?
    @Option(name: .customLong("max-rto-seconds"), help: "Exit 1 when the RTO is longer.")
    var maxRTOSeconds: Double?
    @Option(help: "text or json.") var output: GroupsCommand.OutputFormat = .text
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "error"

    func validate() throws {
        try checkLogLevel(logLevel)
        guard rate > 0, consumers > 0, partitions > 0, warmup >= 0, after >= 0 else {
            throw ValidationError(
                "--rate, --consumers and --partitions must be positive; --warmup and --after not negative")
        }
    }

    func run() async throws {
        let topology = try loadOrReport(file)
        bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .error)
        var options = DrillOptions()
        options.kind = kind == .planned ? .planned : .unplanned
        options.to = to
        options.rate = rate
        options.consumers = consumers
        options.partitions = partitions
        options.topic = topic
        options.warmupSeconds = warmup
        options.afterSeconds = after
        options.takeDownCommand = takeDown
        options.dataRoot = dataRoot
        options.acksFile = acksFile
        let quiet = output == .json
        let runner = DrillRunner(
            topology: topology, options: options, logger: Logger(label: "strait.drill"),
            progress: { line in
                guard !quiet, !line.isEmpty else { return }
                FileHandle.standardError.write(Data("drill: \(line)\n".utf8))
            })
        let result: DrillResult
        do {
            result = try await runner.run()
        } catch {
            throw CLIError("\(error)")
        }
        switch output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        case .text:
            print(result.text)
        }
        let over = result.exceeded(maxRPORecords: maxRPORecords, maxRTOSeconds: maxRTOSeconds)
        if !over.isEmpty {
            FileHandle.standardError.write(Data("drill: over the bounds: \(over.joined(separator: "; "))\n".utf8))
            throw ExitCode(1)
        }
    }
}
