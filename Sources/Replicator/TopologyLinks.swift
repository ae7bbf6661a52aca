import Logging
import Topology

extension Topology {
    /// One `LinkService` per link. Sites reached over TLS or SASL are refused with a clear error
    /// until the client speaks them (issue 6).
    public func linkServices(logger: Logger) throws -> [LinkService] {
        let byName = Dictionary(uniqueKeysWithValues: sites.map { ($0.name, $0) })
        return try links.map { link in
            for siteName in [link.source, link.target] {
                if case let .external(cluster)? = byName[siteName]?.kind, cluster.security.securityProtocol != .plaintext {
                    throw ReplicatorError.configuration(
                        "\(file): site \(siteName) uses \(cluster.security.securityProtocol.rawValue.uppercased()); links over TLS or SASL are not built yet (only PLAINTEXT sites can be linked)")
                }
            }
            guard let source = byName[link.source], let target = byName[link.target] else {
                throw ReplicatorError.configuration("\(file): link \(link.source)->\(link.target) names an unknown site")
            }
            return LinkService(link: link, sourceBootstrap: source.bootstrapServers.joined(separator: ","),
                               targetBootstrap: target.bootstrapServers.joined(separator: ","), logger: logger)
        }
    }
}
