/// Kafka's security protocols (`security.protocol`, and the protocol of a listener): whether a
/// connection runs TLS, and whether its client must log in with SASL. The broker's listeners and
/// the clients (links, `strait groups`) name them alike.
public enum SecurityProtocol: String, Sendable, Equatable, CaseIterable {
    case plaintext
    case ssl
    case saslPlaintext = "sasl_plaintext"
    case saslSSL = "sasl_ssl"

    public var usesTLS: Bool { self == .ssl || self == .saslSSL }
    public var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
}

/// A listener beyond the PLAINTEXT one a broker is started with (`--listen`, or a topology
/// site's `listen`): an entry of `listeners:` in the broker config file or a site's `broker:`.
public struct ListenerSpec: Sendable, Equatable {
    public var name: String
    public var host: String
    public var port: Int
    public var securityProtocol: SecurityProtocol
    /// What Metadata tells this listener's clients; nil: the listen address (127.0.0.1 for 0.0.0.0).
    public var advertisedHost: String?
    public var advertisedPort: Int32?
    /// This listener's `connections-max-reauth-ms` (SASL session lifetime); nil: the broker's.
    public var connectionsMaxReauthMs: Int64?

    public init(
        name: String, host: String, port: Int, securityProtocol: SecurityProtocol,
        advertisedHost: String? = nil, advertisedPort: Int32? = nil, connectionsMaxReauthMs: Int64? = nil
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.securityProtocol = securityProtocol
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
        self.connectionsMaxReauthMs = connectionsMaxReauthMs
    }

    /// The address clients are told of: the advertised one, else the listen address with a
    /// wildcard host (0.0.0.0, ::) told as 127.0.0.1.
    public var advertisedAddress: (host: String, port: Int32) {
        (advertisedHost ?? Self.reachableHost(host), advertisedPort ?? Int32(port))
    }

    /// The host a client on this machine connects to for a listen host: 127.0.0.1 for a wildcard.
    public static func reachableHost(_ host: String) -> String {
        host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
    }
}

/// TLS material of the broker's TLS listeners (`tls:` in the config file or a site's `broker:`).
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

    public init(
        certificateFile: String, keyFile: String, caFile: String? = nil, clientAuth: ClientAuth = .none,
        principalMappingRules: [String] = ["DEFAULT"], cipherSuites: [String]? = nil
    ) {
        self.cipherSuites = cipherSuites
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.clientAuth = clientAuth
        self.principalMappingRules = principalMappingRules
    }
}
