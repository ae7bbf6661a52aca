import KafkaClient
import Security
import TLS
import Topology

/// Why security settings could not be turned into a client configuration: a TLS file that does
/// not load, a password that cannot be read, missing SASL settings. Never contains a password.
public struct ClientSecurityError: Error, CustomStringConvertible {
    public var description: String
}

extension KafkaClientConfiguration {
    /// Applies `security` (a topology site's `security:` section, or `strait groups`' options):
    /// the protocol, a client TLS context built now from the CA / certificate / key files (no CA
    /// file: the system's trust store), and the SASL credentials with the password read now from
    /// its file or environment variable. The one mapping the replicator and the CLI share.
    public mutating func applySecurity(_ security: SecuritySettings) throws(ClientSecurityError) {
        switch security.securityProtocol {
        case .plaintext: securityProtocol = .plaintext
        case .ssl: securityProtocol = .ssl
        case .saslPlaintext: securityProtocol = .saslPlaintext
        case .saslSSL: securityProtocol = .saslSSL
        }
        tls = nil
        sasl = nil
        if security.securityProtocol.usesTLS {
            do {
                tls = try TLSContext(
                    configuration: .client(
                        caFile: security.caFile, certificateChainFile: security.certificateFile,
                        privateKeyFile: security.keyFile))
            } catch {
                throw ClientSecurityError(description: "TLS: \(error)")
            }
        }
        if security.securityProtocol.usesSASL {
            guard let mechanismName = security.saslMechanism?.rawValue,
                let mechanism = SaslMechanism(rawValue: mechanismName),
                let username = security.username, let password = security.password
            else {
                throw ClientSecurityError(
                    description:
                        "SASL needs a mechanism, a user name and a password (from a file or an environment variable)")
            }
            do {
                sasl = SaslCredentials(
                    mechanism: mechanism, username: username, password: Secret(try password.reveal()))
            } catch {
                throw ClientSecurityError(description: "\(error)")
            }
        }
    }
}
