import ArgumentParser
import BrokerCore
import BrokerServer
import Foundation
import ListenerSettings
import Logging
import LogStorage
import NIOPosix
import ServiceLifecycle

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a Kafka-protocol broker.",
        discussion: "Every other setting lives in the YAML file given with --config; see docs/broker.md.")

    @Option(help: "Address to listen on, HOST:PORT.") var listen: String = "127.0.0.1:9092"
    @Option(name: .customLong("data-dir"), help: "Directory for partition logs and broker metadata.") var dataDir:
        String
    @Option(help: "YAML config file.") var config: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        _ = try Self.split(listen)
        try checkLogLevel(logLevel)
    }

    /// `--listen` as host (brackets of an IPv6 address dropped) and port.
    static func split(_ listen: String) throws -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ValidationError("--listen must be HOST:PORT, got '\(listen)'")
        }
        return (String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func run() async throws {
        let (host, port) = try Self.split(listen)
        let level = Logger.Level(rawValue: logLevel) ?? .info

        var brokerConfig = BrokerConfig()
        brokerConfig.advertisedHost = ListenerSpec.reachableHost(host)
        brokerConfig.advertisedPort = Int32(port)
        var advertisedPortFromFile = false
        if let config {
            do {
                let before = brokerConfig.advertisedPort
                try BrokerConfigFile.apply(
                    file: config, to: &brokerConfig,
                    plaintext: .init(key: "--listen", host: host, port: port))
                advertisedPortFromFile = brokerConfig.advertisedPort != before
            } catch {
                throw CLIError("\(error)")
            }
        }

        bootstrapLogging(level: level)
        let logger = Logger(label: "strait.broker")
        let storage = try FileBrokerStorage(directory: dataDir, logger: logger)
        let needsBoundPort = port == 0 && !advertisedPortFromFile
        // Opening recovers the logs (truncates, fsyncs): not on the cooperative pool.
        let broker = try await BlockingIOExecutor.shared.run {
            try Broker(config: brokerConfig, storage: storage, logger: logger)
        }
        let dataDir = self.dataDir
        let nodeId = brokerConfig.nodeId
        let listeners: [BrokerService.Listener]
        do {
            listeners = try BrokerListeners.make(
                plaintextHost: host, plaintextPort: port, config: brokerConfig, logger: logger)
        } catch {
            throw CLIError("\(error)")
        }
        let service = BrokerService(
            broker: broker, listeners: listeners, logger: logger,
            onListening: { address in
                let boundPort = address.port ?? port
                if needsBoundPort { broker.setAdvertisedPort(Int32(boundPort)) }
                let line =
                    "strait broker listening on \(host):\(boundPort) (node \(nodeId), cluster \(broker.clusterId), data dir \(dataDir))\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            },
            onListenerBound: { listener, address in
                guard listener.name != BrokerListeners.plaintextName else { return }
                let line =
                    "strait broker listener \(listener.name) on \(listener.host):\(address.port ?? listener.port)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            })
        let group = ServiceGroup(
            configuration: .init(
                services: [drainingService(service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
