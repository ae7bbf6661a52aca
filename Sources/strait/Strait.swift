import ArgumentParser

@main
struct Strait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strait",
        abstract: "Kafka-protocol broker and multi-datacenter replicator.",
        subcommands: [BrokerCommand.self, UpCommand.self, BenchCommand.self])
}

/// `strait up` needs topology files and the replicator; until they land it says so plainly.
struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Bring up a topology file's sites and links (not built yet).")

    @Argument(help: "Topology file.") var file: String?

    func run() throws {
        throw ValidationError("`strait up` is not built yet: topology files and the replicator are still to come. Run a single broker with `strait broker --listen HOST:PORT --data-dir DIR`.")
    }
}
