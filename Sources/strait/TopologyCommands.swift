import Observability
import Replicator
import ArgumentParser
import BrokerCore
import BrokerServer
import Foundation
import Logging
import LogStorage
import ServiceLifecycle
import Topology

struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology", abstract: "Check or show a topology file.", subcommands: [Check.self, Show.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check a topology file: exit 0 with a summary and what a failover of each link asks of clients, or every problem as FILE:LINE:COLUMN: message."
        )
        @Argument(help: "Topology file.") var file: String

        func run() throws {
            let topology = try loadOrReport(file)
            print(
                "\(file): ok: topology \(topology.name) (\(topology.mode.rawValue)), \(plural(topology.sites.count, "site")), \(plural(topology.links.count, "link"))"
            )
            // Per link: what a failover to its target asks of clients (docs/topology.md, "Failover").
            for link in topology.links {
                print("  \(link.source) → \(link.target): \(topology.offsetsAndNaming(of: link))")
                for line in topology.failoverSupport(of: link) { print("    \(line)") }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the expanded topology: sites, links and their remote topic naming.")
        @Argument(help: "Topology file.") var file: String

        func run() throws {
            print(describe(try loadOrReport(file)))
        }
    }
}

/// Loads a topology, or prints every diagnostic to stderr and exits 1.
func loadOrReport(_ file: String) throws -> Topology {
    do {
        return try TopologyLoader.load(file: file)
    } catch {
        FileHandle.standardError.write(Data((error.description + "\n").utf8))
        throw ExitCode(1)
    }
}

func describe(_ topology: Topology) -> String {
    var lines = ["topology \(topology.name) (\(topology.mode.rawValue))", "sites:"]
    let width = topology.sites.map(\.name.count).max() ?? 0
    for site in topology.sites {
        let padded = site.name.padding(toLength: width, withPad: " ", startingAt: 0)
        let indent = "  \(String(repeating: " ", count: width))  "
        switch site.kind {
        case let .embedded(broker):
            lines.append(
                "  \(padded)  embedded Strait broker on \(broker.host):\(broker.port), data in \(broker.dataDirectory)")
            for listener in broker.listeners.listeners {
                let advertised = listener.advertisedAddress
                lines.append(
                    "\(indent)listener \(listener.name): \(listener.securityProtocol.rawValue) on \(listener.host):\(listener.port)"
                        + ", advertised as \(advertised.host):\(advertised.port)")
            }
            if let tls = broker.listeners.tls {
                lines.append(
                    "\(indent)tls: certificate \(tls.certificateFile), client-auth \(tls.clientAuth.rawValue)"
                        + (tls.caFile.map { ", client CA \($0)" } ?? ""))
            }
            if broker.security.securityProtocol != .plaintext {
                lines.append(
                    "\(indent)links connect to \(site.bootstrapServers.joined(separator: ","))"
                        + " (listener \(broker.clientListener?.name ?? BrokerListeners.plaintextName))")
            }
        case let .external(cluster):
            lines.append(
                "  \(padded)  external Kafka-protocol cluster at \(cluster.bootstrapServers.joined(separator: ","))")
        }
        let security = site.security
        if security.securityProtocol != .plaintext {
            var parts = ["\(security.securityProtocol.rawValue)"]
            if let ca = security.caFile { parts.append("CA \(ca)") }
            if let cert = security.certificateFile { parts.append("client certificate \(cert)") }
            if let mechanism = security.saslMechanism, let user = security.username {
                parts.append("\(mechanism.rawValue) as \(user), password \(security.password?.description ?? "<none>")")
            }
            lines.append("\(indent)security: \(parts.joined(separator: ", "))")
        }
    }
    lines.append(topology.links.isEmpty ? "links: none" : "links:")
    for link in topology.links {
        lines.append("  \(link.source) → \(link.target)")
        lines.append(
            "    topics: include \(link.topics.include.joined(separator: ", "))"
                + (link.topics.exclude.isEmpty ? "" : "; exclude \(link.topics.exclude.joined(separator: ", "))"))
        lines.append(
            "    groups: include \(link.groups.include.joined(separator: ", "))"
                + (link.groups.exclude.isEmpty ? "" : "; exclude \(link.groups.exclude.joined(separator: ", "))"))
        switch link.naming {
        case let .prefix(separator):
            lines.append(
                "    naming: prefix \"\(separator)\": <topic> at \(link.source) → \(link.remoteTopic(for: "<topic>")) at \(link.target)"
            )
        case .identity:
            lines.append(
                "    naming: identity: <topic> at \(link.source) → <topic> at \(link.target)"
                    + (link.provenanceHeader ? " (provenance header cuts loops)" : ""))
        }
        // Literal names among the include patterns make the naming concrete.
        for pattern in link.topics.include where pattern.allSatisfy({ $0.isLetter || $0.isNumber || "-_".contains($0) })
        {
            lines.append("      \(pattern) at \(link.source) → \(link.remoteTopic(for: pattern)) at \(link.target)")
        }
        // A pattern "name.*" also matches "name" itself: show that as the example.
        for pattern in link.topics.include where pattern.hasSuffix(".*") && pattern.count > 2 {
            let topic = String(pattern.dropLast(2))
            if topic.allSatisfy({ $0.isLetter || $0.isNumber || "-_".contains($0) }) {
                lines.append("      \(topic) at \(link.source) → \(link.remoteTopic(for: topic)) at \(link.target)")
            }
        }
        lines.append(
            "    compression: \(link.compression); refresh every \(link.refreshIntervalMs) ms; checkpoints every \(link.checkpointIntervalMs) ms"
        )
    }
    return lines.joined(separator: "\n")
}

/// `strait up FILE`: every embedded site's broker and every link, in this process.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Bring up a topology: every embedded site's broker and every link.")

    @Argument(help: "Topology file.") var file: String
    @Option(
        name: .customLong("site"),
        help: "Run only this embedded site (repeatable), and only the links into the sites named.")
    var sites: [String] = []
    @Option(
        name: .customLong("data-root"),
        help: "Keep each embedded site's data in DIR/<site> instead of its data-dir (scratch runs, drills).")
    var dataRoot: String?
    @Flag(name: .customLong("no-links"), help: "Run no link (the sites' brokers only).") var noLinks = false
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws { try checkLogLevel(logLevel) }

    func run() async throws {
        let topology = try loadOrReport(file)
        for name in sites where !topology.sites.contains(where: { $0.name == name }) {
            throw CLIError("\(file): no site named \(name) (--site)")
        }
        bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .info)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        for site in topology.sites where sites.isEmpty || sites.contains(site.name) {
            guard case var .embedded(scratchable) = site.kind else { continue }
            if let dataRoot {
                scratchable.dataDirectory = URL(fileURLWithPath: dataRoot).appendingPathComponent(site.name).path
            }
            let embedded = scratchable
            var logger = Logger(label: "strait.site.\(site.name)")
            logger[metadataKey: "site"] = "\(site.name)"
            var config = embedded.config
            config.listeners = embedded.listeners.listeners
            config.tls = embedded.listeners.tls
            let storage = try FileBrokerStorage(directory: embedded.dataDirectory, logger: logger)
            // Opening recovers the logs (truncates, fsyncs): not on the cooperative pool.
            let broker = try await BlockingIOExecutor.shared.run { [config] in
                try Broker(config: config, storage: storage, logger: logger)
            }
            let listeners: [BrokerService.Listener]
            do {
                listeners = try BrokerListeners.make(
                    plaintextHost: embedded.host, plaintextPort: embedded.port, config: config, logger: logger)
            } catch {
                throw CLIError("site \(site.name): \(error)")
            }
            let name = site.name
            let service = BrokerService(
                broker: broker, listeners: listeners, logger: logger,
                onListening: { address in
                    let line =
                        "site \(name): strait broker listening on \(embedded.host):\(address.port ?? embedded.port) (node \(embedded.config.nodeId), cluster \(broker.clusterId), data dir \(embedded.dataDirectory))\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                },
                onListenerBound: { listener, address in
                    guard listener.name != BrokerListeners.plaintextName else { return }
                    let line =
                        "site \(name): listener \(listener.name) on \(listener.host):\(address.port ?? listener.port)\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                })
            services.append(drainingService(service))
        }
        for site in topology.sites {
            if case let .external(cluster) = site.kind {
                FileHandle.standardOutput.write(
                    Data(
                        "site \(site.name): external cluster at \(cluster.bootstrapServers.joined(separator: ",")) (not started here)\n"
                            .utf8))
            }
        }
        let links = try topology.linkServices(logger: Logger(label: "strait.replicator")).filter {
            !noLinks && (sites.isEmpty || sites.contains($0.link.target))
        }
        for link in links {
            services.append(drainingService(link))
            announce(link)
        }
        if !links.isEmpty { services.append(drainingService(statusServer(topology, links))) }
        guard !services.isEmpty else {
            throw CLIError("\(file) has no embedded sites and no links to run")
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: "strait.up")))
        try await group.run()
    }
}

func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

/// `strait replicator FILE`: the topology's links alone (the sites run elsewhere).
struct ReplicatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicator", abstract: "Run a topology's links (the sites' clusters run elsewhere).")

    @Argument(help: "Topology file.") var file: String
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws { try checkLogLevel(logLevel) }

    func run() async throws {
        let topology = try loadOrReport(file)
        bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .info)
        let links = try topology.linkServices(logger: Logger(label: "strait.replicator"))
        guard !links.isEmpty else { throw CLIError("\(file) has no links") }
        for link in links {
            announce(link)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: links.map { drainingService($0) } + [drainingService(statusServer(topology, links))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: "strait.replicator")))
        try await group.run()
    }
}

/// The /metrics and /status endpoint of a process running links; prints where it listens.
func statusServer(_ topology: Topology, _ links: [LinkService]) -> StatusServer {
    let address = topology.statusAddress
    return StatusServer(
        host: address.host, port: address.port, links: links.map(\.status),
        logger: Logger(label: "strait.status")
    ) { bound in
        let line = "status: http://\(address.host):\(bound.port ?? address.port)/metrics and /status\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}
