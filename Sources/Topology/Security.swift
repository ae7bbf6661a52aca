/// How the replicator (and the CLI) connect to an external cluster. Used once the Kafka client
/// and TLS land; read and checked now so topology files can say it.
public struct SecuritySettings: Sendable, Equatable {
    public enum SecurityProtocol: String, Sendable, CaseIterable {
        case plaintext, ssl
        case saslPlaintext = "sasl_plaintext"
        case saslSSL = "sasl_ssl"

        var usesTLS: Bool { self == .ssl || self == .saslSSL }
        var usesSASL: Bool { self == .saslPlaintext || self == .saslSSL }
    }

    public enum SASLMechanism: String, Sendable, CaseIterable {
        case plain = "PLAIN"
        case scramSHA256 = "SCRAM-SHA-256"
        case scramSHA512 = "SCRAM-SHA-512"
    }

    public var securityProtocol: SecurityProtocol = .plaintext
    /// PEM CA bundle to verify the brokers' certificates.
    public var caFile: String?
    /// PEM client certificate and key, for mutual TLS.
    public var certificateFile: String?
    public var keyFile: String?
    public var saslMechanism: SASLMechanism?
    public var username: String?
    public var password: Secret?
}

/// Where a secret comes from. The value itself is read only when a connection needs it, and
/// printing a `Secret` never shows it.
public struct Secret: Sendable, Equatable, CustomStringConvertible {
    public enum Source: Sendable, Equatable {
        case file(String)
        case environment(String)
    }

    public var source: Source

    public var description: String {
        switch source {
        case let .file(path): "<secret from file \(path)>"
        case let .environment(name): "<secret from environment variable \(name)>"
        }
    }
}
