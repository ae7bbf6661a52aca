import Security
import TLS
/// How the client connects to brokers: TLS (`tls`) and SASL (`sasl`) settings must be given for
/// the protocols that use them; `checkSecurity` says so before any connection is opened.
public enum SecurityProtocol: String, Sendable, CaseIterable {
    case plaintext = "PLAINTEXT"
    case ssl = "SSL"
    case saslPlaintext = "SASL_PLAINTEXT"
    case saslSSL = "SASL_SSL"

    var usesTLS: Bool { self == .ssl || self == .saslSSL }
    var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
}

/// Exponential backoff between attempts of a retriable operation.
public struct RetryPolicy: Sendable, Equatable {
    /// Total attempts, the first included (1 = no retry).
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    public var multiplier: Double

    public init(
        maxAttempts: Int = 6, initialBackoff: Duration = .milliseconds(100),
        maxBackoff: Duration = .seconds(2), multiplier: Double = 2
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.multiplier = multiplier
    }

    /// The pause after failed attempt `attempt` (1-based): initial × multiplier^(attempt-1), capped.
    public func backoff(afterAttempt attempt: Int) -> Duration {
        var delay = initialBackoff
        if attempt > 1 {
            for _ in 1..<attempt {
                delay = delay * multiplier
                if delay >= maxBackoff { return maxBackoff }
            }
        }
        return min(delay, maxBackoff)
    }

    public static let none = RetryPolicy(maxAttempts: 1)
}

/// Settings shared by every connection a client opens.
public struct KafkaClientConfiguration: Sendable {
    /// Sent in every request header (brokers log it and use it for quotas).
    public var clientId: String = "strait"
    /// Sent in ApiVersions v3+ (must match [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?).
    public var softwareName: String = "strait"
    public var softwareVersion: String = "0.1.0"
    public var securityProtocol: SecurityProtocol = .plaintext
    /// The client TLS context (CA, optional client certificate) for SSL and SASL_SSL.
    public var tls: TLSContext?
    /// Credentials for SASL_PLAINTEXT and SASL_SSL.
    public var sasl: SaslCredentials?
    /// TCP connect timeout (and the ApiVersions exchange that follows it).
    public var connectTimeout: Duration = .seconds(10)
    /// Default time a request may wait for its response; `send` can override it per request.
    public var requestTimeout: Duration = .seconds(30)
    /// The largest response frame accepted; a larger one closes the connection.
    public var maxResponseBytes: Int = 100 * 1024 * 1024
    /// SO_SNDBUF / SO_RCVBUF for broker connections; nil keeps the OS default (and its
    /// autotuning). Raise them for high-latency links: one connection's throughput is at most
    /// about buffer size / round-trip time. TCP_NODELAY is always on.
    public var socketSendBufferBytes: Int? = nil
    public var socketReceiveBufferBytes: Int? = nil
    /// Backoff and attempts for retriable errors (connection failures, NOT_COORDINATOR, ...).
    public var retry: RetryPolicy = RetryPolicy()
    /// How long cached metadata is trusted before an operation refreshes it.
    public var metadataMaxAge: Duration = .seconds(300)
    /// Versions the client may use per API (a later replicator build can narrow them, e.g. for
    /// testing against old brokers). Defaults to everything the client implements.
    public var supportedVersions: ClientAPIVersions = .implemented
    /// KIP-368: when a broker gives SASL sessions a lifetime, each connection re-authenticates
    /// at a random point in this fraction of it (Java's client: 85-95 %)...
    var reauthenticationWindow: ClosedRange<Double> = 0.85...0.95
    /// ...but not sooner than this after the previous exchange (Kafka refuses a
    /// re-authentication within a second of the previous one). Tests lower both.
    var minimumReauthenticationInterval: Duration = .seconds(1)

    public init() {}

    /// Throws `unsupportedSecurityProtocol` when the protocol needs TLS or SASL settings that
    /// are missing.
    func checkSecurity() throws {
        if securityProtocol.usesTLS && tls == nil {
            throw KafkaClientError.unsupportedSecurityProtocol(securityProtocol)
        }
        if securityProtocol.usesSASL && sasl == nil {
            throw KafkaClientError.unsupportedSecurityProtocol(securityProtocol)
        }
    }
}

/// SASL login of a client: the mechanism, the user and the password (kept in memory only, as a
/// `Secret`: printing shows no password).
public struct SaslCredentials: Sendable, CustomStringConvertible {
    public var mechanism: SaslMechanism
    public var username: String
    public var password: Secret

    public init(mechanism: SaslMechanism, username: String, password: Secret) {
        self.mechanism = mechanism
        self.username = username
        self.password = password
    }

    public var description: String { "\(mechanism.rawValue) as \(username)" }
}
