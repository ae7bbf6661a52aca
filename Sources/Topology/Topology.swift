import BrokerCore
import Foundation
import ListenerSettings

/// A validated topology: the sites of a deployment and the links that mirror between them.
/// Built only by `TopologyLoader`, immutable afterwards; the rest of the program reads this.
public struct Topology: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Links run one way; no link has a reverse link.
        case activePassive = "active-passive"
        /// Every link has a reverse link, and loops are cut (prefix naming, or the provenance header).
        case activeActive = "active-active"
        /// Links exactly as written (hub-and-spoke, fan-out...).
        case custom
    }

    public var name: String
    public var mode: Mode
    public var sites: [Site]
    public var links: [Link]
    /// The file it was read from; relative data directories resolve against its folder.
    public var file: String
    /// Where the process running the links serves /metrics and /status (`status:` in the file).
    public var statusAddress: StatusAddress = StatusAddress()

    public struct StatusAddress: Sendable, Equatable {
        public var host: String = "127.0.0.1"
        public var port: Int = 9464
        public init(host: String = "127.0.0.1", port: Int = 9464) {
            self.host = host
            self.port = port
        }
    }

    public func site(named name: String) -> Site? { sites.first { $0.name == name } }
}

public struct Site: Sendable {
    public enum Kind: Sendable {
        case embedded(EmbeddedBroker)
        case external(ExternalCluster)
    }

    public var name: String
    public var kind: Kind

    /// Where links and `strait groups --topology` connect: an embedded broker's client listener.
    public var bootstrapServers: [String] {
        switch kind {
        case let .embedded(broker):
            if let listener = broker.clientListener {
                let address = listener.advertisedAddress
                return ["\(address.host):\(address.port)"]
            }
            return ["\(broker.host):\(broker.port)"]
        case let .external(cluster): return cluster.bootstrapServers
        }
    }

    /// How links and `strait groups --topology` connect to the site (`security:`).
    public var security: SecuritySettings {
        switch kind {
        case let .embedded(broker): broker.security
        case let .external(cluster): cluster.security
        }
    }
}

/// A Strait broker that `strait up` runs inside its own process.
public struct EmbeddedBroker: Sendable {
    /// The PLAINTEXT listener (`listen`).
    public var host: String
    public var port: Int
    /// Absolute, resolved against the topology file's folder when written relative.
    public var dataDirectory: String
    /// The broker's settings (`settings:` in the file, with the keys of docs/broker.md).
    public var config: BrokerConfig
    /// Its other listeners and their TLS material (`listeners:` and `tls:`, as in a broker config
    /// file). `strait up` gives them to the broker.
    public var listeners: BrokerListenerSettings = BrokerListenerSettings()
    /// How links and `strait groups --topology` connect to it (`security:`, the keys of an
    /// external site's): its protocol chooses the listener, `clientListener`.
    public var security: SecuritySettings = SecuritySettings()

    /// The listener clients of the site connect to: the first of `listeners` with the protocol
    /// of `security`, or nil for the PLAINTEXT `listen` one (the loader makes sure one exists).
    public var clientListener: ListenerSpec? {
        guard security.securityProtocol != .plaintext else { return nil }
        return listeners.listeners.first { $0.securityProtocol == security.securityProtocol }
    }
}

/// A Kafka-protocol cluster run elsewhere (Apache Kafka, Redpanda, another Strait).
public struct ExternalCluster: Sendable {
    public var bootstrapServers: [String]
    public var security: SecuritySettings
}

public struct TopicFilter: Sendable {
    public var include: [String]
    public var exclude: [String]

    /// Java-style regular expressions matched against the whole name, as MirrorMaker 2 does.
    public func matches(_ name: String) -> Bool {
        func whole(_ pattern: String) -> Bool {
            guard let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return false }
            return regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
        }
        return include.contains(where: whole) && !exclude.contains(where: whole)
    }
}

public struct Link: Sendable {
    public enum Naming: Sendable, Equatable {
        /// `orders` at east becomes `east<separator>orders` at the target.
        case prefix(separator: String)
        /// Same name at the target; loops are cut by the provenance header.
        case identity
    }

    public var source: String
    public var target: String
    public var topics: TopicFilter
    public var groups: TopicFilter
    public var naming: Naming
    /// none, gzip, lz4, zstd, snappy, or "source" (batches forwarded as they are).
    public var compression: String
    /// Records carry a header naming their origin site; a link never sends a record back to the
    /// site it came from. Required for identity naming in active-active.
    public var provenanceHeader: Bool
    public var refreshIntervalMs: Int64
    public var checkpointIntervalMs: Int64
    /// How the target is written: `preserve` (Strait targets only: batches appended at their
    /// source offsets), `translate` (produced like any client, offsets mapped exactly), or `auto`
    /// (preserve when the target offers Strait's mirror API, else translate).
    public var offsets: OffsetMode = .auto
    /// SO_SNDBUF/SO_RCVBUF for the link's connections (`socket-buffer-bytes`); nil keeps the OS
    /// default. A long fat link needs about bandwidth × round trip.
    public var socketBufferBytes: Int? = nil
    /// Delete the remote topic when its source topic is deleted (`sync-topic-deletion`).
    public var syncTopicDeletion: Bool = false
    /// Another link of the topology writes the other way, from `target` to `source` (set by the
    /// loader). Without one, an identity-named link may preserve offsets: nothing but the link
    /// writes the target's copies of the source's topics (a disaster-recovery standby), so they
    /// can be mirror topics, read-only until promoted.
    public var hasReverseLink: Bool = false

    /// Identity naming with preserved offsets is allowed for a one-way link only: with a reverse
    /// link both sites' producers write the same topic names, and a mirror topic refuses them.
    public var mayPreserveOffsets: Bool { naming != .identity || !hasReverseLink }

    public enum OffsetMode: String, Sendable, Equatable, CaseIterable {
        case auto
        case preserve
        case translate
    }

    /// The topic a source topic is written to at the target.
    public func remoteTopic(for topic: String) -> String {
        switch naming {
        case let .prefix(separator): "\(source)\(separator)\(topic)"
        case .identity: topic
        }
    }
}
