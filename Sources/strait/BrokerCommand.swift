import ArgumentParser
import BrokerCore
import BrokerServer
import Foundation
import Logging
import LogStorage
import NIOPosix
import ServiceLifecycle
import TLS

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a Kafka-protocol broker.",
        discussion: "Every other setting lives in the YAML file given with --config; see docs/broker.md.")

    @Option(help: "Address to listen on, HOST:PORT.") var listen: String = "127.0.0.1:9092"
    @Option(name: .customLong("data-dir"), help: "Directory for partition logs and broker metadata.") var dataDir: String
    @Option(help: "YAML config file.") var config: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String = "info"

    func validate() throws {
        _ = try Self.split(listen)
        try checkLogLevel(logLevel)
    }

    /// `--listen` as host (brackets of an IPv6 address dropped) and port.
    static func split(_ listen: String) throws -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be HOST:PORT, got '\(listen)'")
        }
        return (String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func run() async throws {
        let (host, port) = try Self.split(listen)
        let level = Logger.Level(rawValue: logLevel) ?? .info

        var brokerConfig = BrokerConfig()
        brokerConfig.advertisedHost = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        brokerConfig.advertisedPort = Int32(port)
        var advertisedPortFromFile = false
        if let config {
            do {
                let before = brokerConfig.advertisedPort
                try BrokerConfigFile.apply(file: config, to: &brokerConfig)
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
        let broker = try await BlockingIOExecutor.shared.run { try Broker(config: brokerConfig, storage: storage, logger: logger) }
        let dataDir = self.dataDir
        let nodeId = brokerConfig.nodeId
        var listeners = [BrokerService.Listener(name: "PLAINTEXT", host: host, port: port)]
        let tls = try brokerConfig.listeners.contains { $0.securityProtocol.usesTLS } ? Self.tlsContext(brokerConfig, logger: logger) : nil
        for spec in brokerConfig.listeners {
            listeners.append(try Self.listener(spec, config: brokerConfig, tls: tls, logger: logger))
        }
        let service = BrokerService(broker: broker, listeners: listeners, logger: logger, onListening: { address in
            let boundPort = address.port ?? port
            if needsBoundPort { broker.setAdvertisedPort(Int32(boundPort)) }
            let line = "strait broker listening on \(host):\(boundPort) (node \(nodeId), cluster \(broker.clusterId), data dir \(dataDir))\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }, onListenerBound: { listener, address in
            guard listener.name != "PLAINTEXT" else { return }
            let line = "strait broker listener \(listener.name) on \(listener.host):\(address.port ?? listener.port)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        })
        let group = ServiceGroup(
            configuration: .init(services: [drainingService(service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// The TLS context of the TLS listeners, reloaded when its files change (checked every 10 s).
    static func tlsContext(_ config: BrokerConfig, logger: Logger) throws -> (TLSContext, PrincipalMapper) {
        guard let settings = config.tls else {
            throw CLIError("a listener uses ssl or sasl_ssl, but the config file has no tls: section "
                + "(cert-file, key-file)")
        }
        let clientAuth: TLSConfiguration.ClientAuth = switch settings.clientAuth {
        case .none: .none
        case .requested: .requested
        case .required: .required
        }
        do {
            let context = try TLSContext(configuration: .server(
                certificateChainFile: settings.certificateFile, privateKeyFile: settings.keyFile,
                caFile: settings.caFile, clientAuth: clientAuth, cipherSuites: settings.cipherSuites))
            if let problem = context.certificateValidityProblem {
                logger.warning("TLS: the listeners' \(problem); clients will refuse every TLS connection until it is renewed")
            }
            _ = context.scheduleReloadOnChange(every: .seconds(10), on: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
            return (context, try PrincipalMapper(ruleStrings: settings.principalMappingRules))
        } catch {
            throw CLIError("tls: \(error)")
        }
    }

    /// A configured listener as the server runs it: its advertised address, and its security.
    static func listener(_ spec: ListenerSpec, config: BrokerConfig, tls: (TLSContext, PrincipalMapper)?,
                         logger: Logger) throws -> BrokerService.Listener {
        let advertisedHost = spec.advertisedHost ?? (spec.host == "0.0.0.0" || spec.host == "::" ? "127.0.0.1" : spec.host)
        let advertised = (advertisedHost, spec.advertisedPort ?? Int32(spec.port))
        var listener = BrokerService.Listener(name: spec.name, host: spec.host, port: spec.port, advertised: advertised,
                                              requiresSASL: spec.securityProtocol.usesSASL)
        if spec.securityProtocol.usesTLS, let (context, mapper) = tls {
            listener.secure = { channel in
                try channel.pipeline.syncOperations.addHandler(try OpenSSLHandler(tlsContext: context))
            }
            listener.identify = { channel in
                let subject = try? await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.handler(type: OpenSSLHandler.self).handshakeResult?.peerSubject
                }.get()
                return mapper.principal(forSubject: subject ?? nil)
            }
        }
        return listener
    }
}
