import Foundation
import ListenerSettings

/// How the replicator (and the CLI) connect to a site (external, or an embedded broker): a topology site's
/// `security:` section, or `strait groups`' security options. The replicator module turns it
/// into a Kafka client configuration (`KafkaClientConfiguration.applySecurity`).
public struct SecuritySettings: Sendable, Equatable {
    /// The protocols the brokers' listeners speak (one type for both ends).
    public typealias SecurityProtocol = ListenerSettings.SecurityProtocol

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
    public var password: SecretReference?

    public init() {}

    /// What the settings are called where they were written, for messages.
    public struct Names: Sendable {
        public var securityProtocol, caFile, certificateFile, keyFile, saslMechanism, username, passwordFile,
            passwordEnv: String

        public init(
            securityProtocol: String, caFile: String, certificateFile: String, keyFile: String,
            saslMechanism: String, username: String, passwordFile: String, passwordEnv: String
        ) {
            self.securityProtocol = securityProtocol
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.saslMechanism = saslMechanism
            self.username = username
            self.passwordFile = passwordFile
            self.passwordEnv = passwordEnv
        }

        /// The keys of a topology file's `security:` section.
        public static let topology = Names(
            securityProtocol: "protocol", caFile: "ca-file", certificateFile: "cert-file",
            keyFile: "key-file", saslMechanism: "sasl-mechanism", username: "username",
            passwordFile: "password-file", passwordEnv: "password-env")
    }

    /// Settings that do not fit together (TLS files without TLS, SASL settings without SASL or
    /// incomplete, a certificate without its key), each as "`context` ...".
    public func problems(context: String, names: Names = .topology) -> [String] {
        var problems: [String] = []
        let name = securityProtocol.rawValue
        if !securityProtocol.usesTLS, caFile != nil || certificateFile != nil || keyFile != nil {
            problems.append(
                "\(context) names TLS files but protocol is \(name): use \(names.securityProtocol) ssl or sasl_ssl")
        }
        if (certificateFile == nil) != (keyFile == nil) {
            problems.append("\(context) needs \(names.certificateFile) and \(names.keyFile) together (mutual TLS)")
        }
        if securityProtocol.usesSASL {
            if saslMechanism == nil || username == nil || password == nil {
                problems.append(
                    "\(context) with protocol \(name) needs \(names.saslMechanism), \(names.username), and \(names.passwordFile) or \(names.passwordEnv)"
                )
            }
        } else if saslMechanism != nil || username != nil || password != nil {
            problems.append(
                "\(context) has SASL settings but protocol is \(name): use \(names.securityProtocol) sasl_plaintext or sasl_ssl"
            )
        }
        return problems
    }
}

/// Where a secret comes from. The value itself is read only when a connection needs it, and
/// printing a `SecretReference` never shows it; `reveal()` reads it.
public struct SecretReference: Sendable, Equatable, CustomStringConvertible {
    public enum Source: Sendable, Equatable {
        case file(String)
        case environment(String)
    }

    public var source: Source

    public init(source: Source) { self.source = source }

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
                let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !line.isEmpty
            else {
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
