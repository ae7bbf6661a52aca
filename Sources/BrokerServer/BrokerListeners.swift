import BrokerCore
import ListenerSettings
import Logging
import NIOCore
import NIOPosix
import TLS

/// Why a broker's listeners could not be built: TLS files that do not load (the message names the
/// file and OpenSSL's reason), bad principal-mapping rules, a TLS listener without TLS settings.
public struct BrokerListenersError: Error, CustomStringConvertible {
    public var description: String
}

/// The listeners a broker serves, as `BrokerService` runs them: first the PLAINTEXT one it is
/// started with (`strait broker --listen`, a topology site's `listen`), which advertises the
/// broker's own address, then `config.listeners` in order, each advertising its own.
/// `strait broker` and `strait up` both build their listeners here.
///
/// TLS listeners (ssl, sasl_ssl) share one server `TLSContext` made from `config.tls`, re-read
/// when its files change (polled every 10 s); a TLS listener's connection gets an
/// `OpenSSLHandler` in front of the Kafka framing, and its peer's certificate subject names the
/// connection's principal through the principal-mapping rules. SASL listeners (sasl_plaintext,
/// sasl_ssl) make clients log in with `config.saslMechanisms` against the data directory's users.
public enum BrokerListeners {
    public static let plaintextName = "PLAINTEXT"

    public static func make(
        plaintextHost: String, plaintextPort: Int, config: BrokerConfig,
        logger: Logger
    ) throws(BrokerListenersError) -> [BrokerService.Listener] {
        let tls =
            try config.listeners.contains { $0.securityProtocol.usesTLS } ? tlsContext(config.tls, logger: logger) : nil
        return [BrokerService.Listener(name: plaintextName, host: plaintextHost, port: plaintextPort)]
            + config.listeners.map { listener($0, tls: tls) }
    }

    /// The TLS context of the TLS listeners, reloaded when its files change, and the mapping from
    /// client certificate subjects to principals.
    static func tlsContext(_ settings: BrokerTLSSettings?, logger: Logger) throws(BrokerListenersError) -> (
        TLSContext, PrincipalMapper
    ) {
        guard let settings else {
            throw BrokerListenersError(
                description: "a listener uses ssl or sasl_ssl, but there are no tls: settings (cert-file, key-file)")
        }
        let clientAuth: TLSConfiguration.ClientAuth =
            switch settings.clientAuth {
            case .none: .none
            case .requested: .requested
            case .required: .required
            }
        do {
            let context = try TLSContext(
                configuration: .server(
                    certificateChainFile: settings.certificateFile, privateKeyFile: settings.keyFile,
                    caFile: settings.caFile, clientAuth: clientAuth, cipherSuites: settings.cipherSuites))
            let mapper = try PrincipalMapper(ruleStrings: settings.principalMappingRules)
            if let problem = context.certificateValidityProblem {
                logger.warning(
                    "TLS: the listeners' \(problem); clients will refuse every TLS connection until it is renewed")
            }
            _ = context.scheduleReloadOnChange(
                every: .seconds(10), on: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
            return (context, mapper)
        } catch {
            throw BrokerListenersError(description: "tls: \(error)")
        }
    }

    /// A configured listener as the server runs it: its advertised address, and its security.
    static func listener(_ spec: ListenerSpec, tls: (TLSContext, PrincipalMapper)?) -> BrokerService.Listener {
        var listener = BrokerService.Listener(
            name: spec.name, host: spec.host, port: spec.port, advertised: spec.advertisedAddress,
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
