import ArgumentParser

@main
struct Strait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strait",
        abstract: "Kafka-protocol broker and multi-datacenter replicator.",
        subcommands: [BrokerCommand.self, UpCommand.self, TopologyCommand.self, GroupsCommand.self, ReplicatorCommand.self, StatusCommand.self, UsersCommand.self, DelayLinkCommand.self, BenchCommand.self])
}
