import ArgumentParser
import Failover
import Foundation
import Logging
import Replication

/// `strait failover FILE --to SITE`: makes SITE the primary of the topology's link into it.
struct FailoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Fail over to a site: fence, drain, sync groups, promote, stop the link (docs/failover.md).")

    @Argument(help: "Topology file.") var file: String
    @Option(help: "The site that becomes the primary.") var to: String
    @Option(help: "The old primary, when links from several sites write into --to.") var from: String?
    @Flag(help: "The primary does not answer: promote at what the standby holds and report what may be lost.")
    var unplanned = false
    @Flag(name: .customLong("dry-run"), help: "Print every step and what it would do; change nothing.")
    var dryRun = false
    @Option(help: "Seconds the drain may take (planned) before the failover is called off.") var timeout: Double = 60
    @Option(
        name: .customLong("quiet-period"),
        help: "Seconds a primary that cannot fence must keep its end offsets unchanged (producers stopped).")
    var quietPeriod: Double = 5
    @Option(help: "text or json.") var output: GroupsCommand.OutputFormat = .text
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "warning"

    func validate() throws {
        try checkLogLevel(logLevel)
        guard timeout > 0, quietPeriod >= 0 else {
            throw ValidationError("--timeout must be positive, --quiet-period not negative")
        }
    }

    func run() async throws {
        let topology = try loadOrReport(file)
        bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .warning)
        var options = FailoverOptions(to: to, from: from, kind: unplanned ? .unplanned : .planned)
        options.drainTimeoutMs = Int64(timeout * 1000)
        options.quietPeriodMs = Int64(quietPeriod * 1000)
        let quiet = output == .json
        let runner = FailoverRunner(
            topology: topology, options: options, logger: Logger(label: "strait.failover"),
            progress: { line in
                guard !quiet, !line.isEmpty else { return }
                FileHandle.standardError.write(Data("failover: \(line)\n".utf8))
            })
        let plan: FailoverPlan
        do {
            plan = try await runner.plan()
        } catch {
            throw CLIError("\(error)")
        }
        if dryRun {
            print(plan.description)
            print("dry run: nothing was changed")
            return
        }
        if !quiet { FileHandle.standardError.write(Data((plan.description + "\n").utf8)) }
        let report: FailoverReport
        do {
            report = try await runner.run(plan)
        } catch {
            throw CLIError("\(error)")
        }
        switch output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .text:
            print(FailoverReportText.render(report))
        }
    }
}

/// `strait failback`: not built yet; says so, with what to do by hand.
struct FailbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failback", abstract: "Fail back to the old primary (not built yet: docs/failover.md).")

    @Argument(help: "Topology file.") var file: String
    @Option(help: "The site that becomes the primary again.") var to: String

    func run() throws {
        throw CLIError(
            "strait failback is not built yet (issue 13): the divergence report, keeping the old primary's records written after the failover point, truncation and the reverse link are still to come. By hand: docs/failover.md, \"Failing back by hand\""
        )
    }
}
