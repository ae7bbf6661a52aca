import ArgumentParser
import Foundation

@main
struct Strait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strait",
        abstract: "Kafka-protocol broker and multi-datacenter replicator.",
        subcommands: [
            BrokerCommand.self, UpCommand.self, TopologyCommand.self, GroupsCommand.self,
            ReplicatorCommand.self, StatusCommand.self, UsersCommand.self, DelayLinkCommand.self,
            FailoverCommand.self, FailbackCommand.self, DrillCommand.self, BenchCommand.self
        ])

    /// ArgumentParser's `main`, with one difference: an error thrown by a command's `run()` is a
    /// runtime failure (nothing answers, a file is unreadable, a port is taken), printed as one
    /// `error: ...` line on stderr with exit status 1, without the usage text. Mistakes on the
    /// command line (unknown options, missing arguments, what `validate()` refuses) still print
    /// the command's usage.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot()
        } catch {
            exit(withError: error)
        }
        // ArgumentParser's own commands (`strait help status`) report through it.
        let builtIn = String(reflecting: type(of: command)).hasPrefix("ArgumentParser.")
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch  where builtIn || error is ExitCode || error is CleanExit {
            exit(withError: error)
        } catch {
            FileHandle.standardError.write(Data("error: \(runtimeErrorMessage(error))\n".utf8))
            exit(withError: ExitCode(1))
        }
    }
}
