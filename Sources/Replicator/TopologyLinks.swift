import KafkaClient
import Logging
import Replication
import Topology

extension Topology {
    /// One `LinkService` per link, each connecting to its two sites as the file says (TLS, SASL
    /// with the password read now from its file or environment variable).
    public func linkServices(logger: Logger) throws -> [LinkService] {
        let byName = Dictionary(uniqueKeysWithValues: sites.map { ($0.name, $0) })
        var configurations: [String: KafkaClientConfiguration] = [:]
        for site in sites {
            let configuration = try clientConfiguration(for: site)
            if let problem = configuration.tls?.certificateValidityProblem {
                logger.warning(
                    "site \(site.name): the client \(problem); brokers that check client certificates will refuse it")
            }
            configurations[site.name] = configuration
        }
        return try links.map { link in
            guard let source = byName[link.source], let target = byName[link.target] else {
                throw ReplicatorError.configuration(
                    "\(file): link \(link.source)->\(link.target) names an unknown site")
            }
            return LinkService(
                link: link, sourceBootstrap: source.bootstrapServers.joined(separator: ","),
                targetBootstrap: target.bootstrapServers.joined(separator: ","),
                sourceConfiguration: configurations[link.source]!,
                targetConfiguration: configurations[link.target]!, logger: logger)
        }
    }

    /// How the replicator (and `strait groups --topology`) connects to a site: its `security:`
    /// section (plaintext without one), embedded or external.
    public func clientConfiguration(for site: Site) throws -> KafkaClientConfiguration {
        var configuration = KafkaClientConfiguration()
        do {
            try configuration.applySecurity(site.security)
        } catch {
            throw ReplicatorError.configuration("\(file): site \(site.name): \(error)")
        }
        return configuration
    }
}

extension Link {
    /// Which topics and groups the link mirrors and how it names them at the target.
    public var replicationPolicy: ReplicationPolicy {
        let naming: TopicNaming =
            switch self.naming {
            case let .prefix(separator): .prefix(separator: separator)
            case .identity: .identity
            }
        return ReplicationPolicy(
            source: source, target: target, naming: naming,
            topics: NameFilter(include: topics.include, exclude: topics.exclude),
            groups: NameFilter(include: groups.include, exclude: groups.exclude))
    }
}
