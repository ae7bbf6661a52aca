/// The security protocol of a listener, as Kafka names them.
public enum ListenerProtocol: String, Sendable, Equatable, CaseIterable {
    case plaintext
    case ssl
    case saslPlaintext = "sasl_plaintext"
    case saslSSL = "sasl_ssl"

    public var usesTLS: Bool { self == .ssl || self == .saslSSL }
    public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
}

/// A listener beyond the `--listen` one (`listeners:` in the config file).
public struct ListenerSpec: Sendable, Equatable {
    public var name: String
    public var host: String
    public var port: Int
    public var securityProtocol: ListenerProtocol
    /// What Metadata tells this listener's clients; nil: the listen address (127.0.0.1 for 0.0.0.0).
    public var advertisedHost: String?
    public var advertisedPort: Int32?
    /// This listener's `connections-max-reauth-ms` (SASL session lifetime); nil: the broker's.
    public var connectionsMaxReauthMs: Int64?

    public init(name: String, host: String, port: Int, securityProtocol: ListenerProtocol,
                advertisedHost: String? = nil, advertisedPort: Int32? = nil, connectionsMaxReauthMs: Int64? = nil) {
        self.name = name
        self.host = host
        self.port = port
        self.securityProtocol = securityProtocol
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
        self.connectionsMaxReauthMs = connectionsMaxReauthMs
    }
}

/// TLS material of the broker's TLS listeners (`tls:` in the config file).
public struct BrokerTLSSettings: Sendable, Equatable {
    public enum ClientAuth: String, Sendable, Equatable, CaseIterable {
        case none, requested, required
    }

    public var certificateFile: String
    public var keyFile: String
    /// CA bundle that client certificates must chain to (mutual TLS).
    public var caFile: String?
    public var clientAuth: ClientAuth
    /// Kafka's `ssl.principal.mapping.rules`: `RULE:pattern/replacement/[LU]` or `DEFAULT`.
    public var principalMappingRules: [String]
    /// Kafka's `ssl.cipher.suites`, in preference order; nil for the TLS module's defaults.
    public var cipherSuites: [String]?

    public init(certificateFile: String, keyFile: String, caFile: String? = nil, clientAuth: ClientAuth = .none,
                principalMappingRules: [String] = ["DEFAULT"], cipherSuites: [String]? = nil) {
        self.cipherSuites = cipherSuites
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.clientAuth = clientAuth
        self.principalMappingRules = principalMappingRules
    }
}
