import KafkaClient
import Logging
import Security
import TLS
import Topology

extension Topology {
    /// One `LinkService` per link, each connecting to its two sites as the file says (TLS, SASL
    /// with the password read now from its file or environment variable).
    public func linkServices(logger: Logger) throws -> [LinkService] {
        let byName = Dictionary(uniqueKeysWithValues: sites.map { ($0.name, $0) })
        var configurations: [String: KafkaClientConfiguration] = [:]
        for site in sites {
            configurations[site.name] = try clientConfiguration(for: site)
        }
        return try links.map { link in
            guard let source = byName[link.source], let target = byName[link.target] else {
                throw ReplicatorError.configuration("\(file): link \(link.source)->\(link.target) names an unknown site")
            }
            return LinkService(link: link, sourceBootstrap: source.bootstrapServers.joined(separator: ","),
                               targetBootstrap: target.bootstrapServers.joined(separator: ","),
                               sourceConfiguration: configurations[link.source]!,
                               targetConfiguration: configurations[link.target]!, logger: logger)
        }
    }

    /// How the replicator connects to a site: plaintext for embedded brokers, the `security:`
    /// section for external clusters.
    func clientConfiguration(for site: Site) throws -> KafkaClientConfiguration {
        var configuration = KafkaClientConfiguration()
        guard case let .external(cluster) = site.kind else { return configuration }
        let security = cluster.security
        func fail(_ why: String) -> ReplicatorError { .configuration("\(file): site \(site.name): \(why)") }
        switch security.securityProtocol {
        case .plaintext: configuration.securityProtocol = .plaintext
        case .ssl: configuration.securityProtocol = .ssl
        case .saslPlaintext: configuration.securityProtocol = .saslPlaintext
        case .saslSSL: configuration.securityProtocol = .saslSSL
        }
        if security.securityProtocol == .ssl || security.securityProtocol == .saslSSL {
            do {
                configuration.tls = try TLSContext(configuration: .client(
                    caFile: security.caFile, certificateChainFile: security.certificateFile, privateKeyFile: security.keyFile))
            } catch {
                throw fail("TLS: \(error)")
            }
        }
        if security.securityProtocol == .saslPlaintext || security.securityProtocol == .saslSSL {
            guard let mechanismName = security.saslMechanism?.rawValue, let mechanism = SaslMechanism(rawValue: mechanismName),
                  let username = security.username, let password = security.password else {
                throw fail("SASL needs sasl-mechanism, username and a password")
            }
            do {
                configuration.sasl = SaslCredentials(mechanism: mechanism, username: username, password: try password.reveal())
            } catch {
                throw fail("\(error)")
            }
        }
        return configuration
    }
}
