/// How a link will write its target, as far as the topology file can tell (the replicator decides
/// for `offsets: auto` when it connects: `LinkService.decideMode`).
public enum ExpectedOffsets: Sendable, Equatable {
    /// Mirror topics at the source's offsets.
    case preserve
    /// Produced like any client; offsets mapped exactly.
    case translate
    /// `offsets: auto` into an external cluster: preserve if it offers Strait's mirror API
    /// (a Strait broker), else translate.
    case preserveIfTargetOffersMirrorAPI
}

extension Topology {
    /// The write mode `link` will use: `offsets:` as written, or for `auto` what the target site
    /// says (an embedded Strait broker offers the mirror API unless `mirror-api: false`).
    public func expectedOffsets(of link: Link) -> ExpectedOffsets {
        switch link.offsets {
        case .preserve: return .preserve
        case .translate: return .translate
        case .auto:
            guard link.mayPreserveOffsets else { return .translate }
            switch site(named: link.target)?.kind {
            case let .embedded(broker)?: return broker.config.mirrorAPI ? .preserve : .translate
            case .external?, nil: return .preserveIfTargetOffersMirrorAPI
            }
        }
    }

    /// What a failover from `link.source` to `link.target` asks of clients, one line per possible
    /// write mode and one for an unplanned failover (what `strait topology check` prints).
    public func failoverSupport(of link: Link) -> [String] {
        let target = link.target
        let remote = link.remoteTopic(for: "<topic>")
        func failover(_ mode: ExpectedOffsets) -> String {
            switch (mode, link.naming) {
            case (.preserve, .identity):
                return
                    "clients change only their bootstrap servers: topic names and offsets are the same at \(target), committed offsets carry over unchanged"
            case (.preserve, .prefix):
                return
                    "consumers move to \(remote) at the same offsets (their committed offsets carry over unchanged); producers must be reconfigured to write \(remote)"
            case (_, .identity):
                return
                    "clients change their bootstrap servers; topic names are the same at \(target) but offsets are not: group offsets are translated through checkpoints"
            case (_, .prefix):
                return
                    "consumers move to \(remote), group offsets translated through checkpoints; producers must be reconfigured to write \(remote)"
            }
        }
        let unplanned =
            "unplanned: a consumer may re-read what it consumed in the last checkpoint interval (\(link.checkpointIntervalMs) ms)"
        switch expectedOffsets(of: link) {
        case .preserveIfTargetOffersMirrorAPI:
            return [
                "failover to \(target), if it offers Strait's mirror API (preserve): \(failover(.preserve))",
                "failover to \(target), otherwise (translate): \(failover(.translate))", unplanned
            ]
        case let mode:
            return ["failover to \(target): \(failover(mode))", unplanned]
        }
    }

    /// `offsets preserve, naming identity` and the like, for the heading of a link's lines.
    public func offsetsAndNaming(of link: Link) -> String {
        let offsets: String
        switch (link.offsets, expectedOffsets(of: link)) {
        case (.auto, .preserve): offsets = "offsets auto (preserve: \(link.target) offers Strait's mirror API)"
        case (.auto, .translate):
            offsets =
                link.mayPreserveOffsets
                ? "offsets auto (translate: \(link.target) has mirror-api: false)"
                : "offsets auto (translate: identity naming with a reverse link)"
        case (.auto, .preserveIfTargetOffersMirrorAPI):
            offsets = "offsets auto (preserve if \(link.target) offers Strait's mirror API, else translate)"
        case (let written, _): offsets = "offsets \(written.rawValue)"
        }
        switch link.naming {
        case let .prefix(separator): return "\(offsets), naming prefix \"\(separator)\""
        case .identity: return "\(offsets), naming identity"
        }
    }
}
