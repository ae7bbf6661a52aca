import Foundation
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

    /// Reads the secret now: the file's first line, or the variable's value. The error names
    /// where it looked, never the value.
    public func reveal() throws -> String {
        switch source {
        case let .file(path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !line.isEmpty else {
                throw SecretError(message: "cannot read a secret from the file \(path)")
            }
            return String(line)
        case let .environment(name):
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw SecretError(message: "the environment variable \(name) holding a secret is not set")
            }
            return value
        }
    }
}

public struct SecretError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
