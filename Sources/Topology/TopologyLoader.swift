import BrokerCore
import Foundation
import ListenerSettings
import Yams

/// Reads a topology file into a validated `Topology`, or reports every problem in it as
/// `FILE:LINE:COLUMN: what is wrong and how to fix it`.
public enum TopologyLoader {
    public static let compressions = ["source", "none", "gzip", "lz4", "zstd", "snappy"]
    static let defaultRefreshIntervalMs: Int64 = 10_000
    static let defaultCheckpointIntervalMs: Int64 = 10_000

    public static func load(file path: String) throws(TopologyError) -> Topology {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TopologyError(diagnostics: [
                TopologyDiagnostic(file: path, line: 1, column: 1, message: "cannot read the topology file")
            ])
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(TopologyError) -> Topology {
        var diagnostics = DiagnosticCollector(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw TopologyError(diagnostics: [syntaxDiagnostic(error, file: file)])
        } catch {
            throw TopologyError(diagnostics: [
                TopologyDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)")
            ])
        }
        guard let root, var top = MappingReader(root, context: "the topology", diagnostics: &diagnostics) else {
            if diagnostics.diagnostics.isEmpty { diagnostics.report(nil, "the topology file is empty") }
            throw TopologyError(diagnostics: diagnostics.diagnostics)
        }
        let baseDirectory = URL(fileURLWithPath: file).deletingLastPathComponent()

        let name = top.string("name", &diagnostics)
        if top.value("name") == nil { diagnostics.report(root, "the topology is missing 'name'") }
        var mode = Topology.Mode.custom
        if let modeNode = top.value("mode") {
            if let value = modeNode.string, let parsed = Topology.Mode(rawValue: value) {
                mode = parsed
            } else {
                let hint = modeNode.string.flatMap { nearestName(to: $0, in: Topology.Mode.allCases.map(\.rawValue)) }
                diagnostics.report(
                    modeNode,
                    "mode must be active-passive, active-active or custom\(hint.map { " (did you mean '\($0)'?)" } ?? "")"
                )
            }
        }
        let primaryNode = top.value("primary")

        var sites: [(Site, Node)] = []
        if let sitesNode = top.required("sites", &diagnostics) {
            if let mapping = sitesNode.mapping {
                for (keyNode, siteNode) in mapping {
                    guard let siteName = keyNode.string else {
                        diagnostics.report(keyNode, "site names must be strings"); continue
                    }
                    if let site = readSite(siteName, keyNode, siteNode, baseDirectory: baseDirectory, &diagnostics) {
                        sites.append((site, keyNode))
                    }
                }
                if mapping.count == 0 { diagnostics.report(sitesNode, "sites is empty: name at least one site") }
            } else {
                diagnostics.report(sitesNode, "sites must be a mapping of site names to sites")
            }
        }
        let siteNames = sites.map(\.0.name)

        var links: [(Link, Node)] = []
        if let linksNode = top.value("links") {
            if let sequence = linksNode.sequence {
                for linkNode in sequence {
                    if let link = readLink(linkNode, siteNames: siteNames, &diagnostics) {
                        links.append((link, linkNode))
                    }
                }
            } else {
                diagnostics.report(linksNode, "links must be a list of links")
            }
        } else {
            links = expandLinks(mode: mode, primary: primaryNode, sites: sites.map(\.0), root: root, &diagnostics)
        }
        var statusAddress = Topology.StatusAddress()
        if let statusNode = top.value("status") {
            if let text = statusNode.string, let (host, port) = parseHostPort(text) {
                statusAddress = Topology.StatusAddress(host: host, port: port)
            } else {
                diagnostics.report(
                    statusNode,
                    "status must be HOST:PORT (where /metrics and /status are served), got '\(statusNode.string ?? "")'"
                )
            }
        }
        top.finish(&diagnostics)

        for index in links.indices {
            let link = links[index].0
            links[index].0.hasReverseLink = links.contains { $0.0.source == link.target && $0.0.target == link.source }
        }
        checkEmbeddedClashes(sites, &diagnostics)
        checkLinks(links, mode: mode, &diagnostics)

        guard diagnostics.diagnostics.isEmpty, let name else {
            throw TopologyError(diagnostics: diagnostics.diagnostics)
        }
        return Topology(
            name: name, mode: mode, sites: sites.map(\.0), links: links.map(\.0), file: file,
            statusAddress: statusAddress)
    }

    private static func syntaxDiagnostic(_ error: YamlError, file: String) -> TopologyDiagnostic {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return TopologyDiagnostic(
                file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(what)")
        default:
            return TopologyDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)")
        }
    }

    // MARK: Sites

    private static func readSite(
        _ name: String, _ keyNode: Node, _ node: Node, baseDirectory: URL,
        _ diagnostics: inout DiagnosticCollector
    ) -> Site? {
        if name.isEmpty
            || name.unicodeScalars.contains(where: {
                !(CharacterSet.alphanumerics.contains($0) && $0.isASCII) && $0 != "-" && $0 != "_"
            })
        {
            diagnostics.report(
                keyNode,
                "site name '\(name)' may use only ASCII letters, digits, '-' and '_' (it prefixes remote topic names)")
        }
        guard var reader = MappingReader(node, context: "site \(name)", diagnostics: &diagnostics) else { return nil }
        let brokerNode = reader.value("broker")
        let kafkaNode = reader.value("kafka")
        reader.finish(&diagnostics)
        switch (brokerNode, kafkaNode) {
        case let (brokerNode?, nil):
            return readEmbedded(name, brokerNode, baseDirectory: baseDirectory, &diagnostics).map {
                Site(name: name, kind: .embedded($0))
            }
        case let (nil, kafkaNode?):
            guard var kafka = MappingReader(kafkaNode, context: "site \(name).kafka", diagnostics: &diagnostics) else {
                return nil
            }
            let servers = kafka.strings("bootstrap", &diagnostics) ?? []
            if kafka.value("bootstrap") == nil {
                diagnostics.report(kafkaNode, "site \(name).kafka is missing 'bootstrap' (a list of HOST:PORT)")
            }
            for (server, serverNode) in servers where parseHostPort(server) == nil {
                diagnostics.report(serverNode, "bootstrap server '\(server)' must be HOST:PORT")
            }
            var security = SecuritySettings()
            if let securityNode = kafka.value("security") {
                security = readSecurity(securityNode, context: "site \(name).kafka.security", &diagnostics)
            }
            kafka.finish(&diagnostics)
            return Site(
                name: name, kind: .external(ExternalCluster(bootstrapServers: servers.map(\.0), security: security)))
        case (.some, .some):
            diagnostics.report(node, "site \(name) has both 'broker' (embedded) and 'kafka' (external): keep one")
            return nil
        case (nil, nil):
            diagnostics.report(
                node,
                "site \(name) needs 'broker' (a Strait broker run by `strait up`) or 'kafka' (an external cluster)")
            return nil
        }
    }

    private static func readSecurity(_ node: Node, context: String, _ diagnostics: inout DiagnosticCollector)
        -> SecuritySettings
    {
        var settings = SecuritySettings()
        guard var reader = MappingReader(node, context: context, diagnostics: &diagnostics) else { return settings }
        if let protocolName = reader.string("protocol", &diagnostics) {
            if let parsed = SecuritySettings.SecurityProtocol(rawValue: protocolName.lowercased()) {
                settings.securityProtocol = parsed
            } else {
                let names = SecuritySettings.SecurityProtocol.allCases.map(\.rawValue)
                let hint =
                    nearestName(to: protocolName.lowercased(), in: names).map { " (did you mean '\($0)'?)" } ?? ""
                diagnostics.report(
                    reader.value("protocol"),
                    "\(context).protocol must be one of \(names.joined(separator: ", "))\(hint)")
            }
        }
        settings.caFile = reader.string("ca-file", &diagnostics)
        settings.certificateFile = reader.string("cert-file", &diagnostics)
        settings.keyFile = reader.string("key-file", &diagnostics)
        if let mechanism = reader.string("sasl-mechanism", &diagnostics) {
            settings.saslMechanism = SecuritySettings.SASLMechanism(rawValue: mechanism.uppercased())
            if settings.saslMechanism == nil {
                let names = SecuritySettings.SASLMechanism.allCases.map(\.rawValue)
                diagnostics.report(
                    reader.value("sasl-mechanism"),
                    "\(context).sasl-mechanism must be one of \(names.joined(separator: ", "))")
            }
        }
        settings.username = reader.string("username", &diagnostics)
        let passwordFile = reader.string("password-file", &diagnostics)
        let passwordEnv = reader.string("password-env", &diagnostics)
        if reader.value("password") != nil {
            diagnostics.report(
                reader.value("password"),
                "\(context): write no password in the topology file; use password-file (a file holding it) or password-env (an environment variable)"
            )
        }
        reader.finish(&diagnostics)
        switch (passwordFile, passwordEnv) {
        case let (file?, nil): settings.password = SecretReference(source: .file(file))
        case let (nil, variable?): settings.password = SecretReference(source: .environment(variable))
        case (.some, .some): diagnostics.report(node, "\(context) has both password-file and password-env: keep one")
        case (nil, nil): break
        }
        for problem in settings.problems(context: context) {
            diagnostics.report(node, problem)
        }
        return settings
    }

    private static func readEmbedded(
        _ name: String, _ node: Node, baseDirectory: URL,
        _ diagnostics: inout DiagnosticCollector
    ) -> EmbeddedBroker? {
        guard var reader = MappingReader(node, context: "site \(name).broker", diagnostics: &diagnostics) else {
            return nil
        }
        let listenNode = reader.required("listen", &diagnostics)
        let listen = reader.string("listen", &diagnostics)
        let dataDirNode = reader.required("data-dir", &diagnostics)
        let dataDir = reader.string("data-dir", &diagnostics)
        var config = BrokerConfig()
        if let settingsNode = reader.value("settings") {
            if let mapping = settingsNode.mapping {
                for (keyNode, value) in mapping {
                    guard let key = keyNode.string, let scalar = value.scalar else {
                        diagnostics.report(value, "site \(name).broker.settings values must be plain values")
                        continue
                    }
                    guard BrokerConfig.settingNames.contains(key) else {
                        let hint =
                            nearestName(to: key, in: BrokerConfig.settingNames).map { " (did you mean '\($0)'?)" } ?? ""
                        diagnostics.report(
                            keyNode, "unknown broker setting '\(key)' in site \(name).broker.settings\(hint)")
                        continue
                    }
                    if let problem = config.apply(setting: key, value: scalar.string) {
                        diagnostics.report(value, problem)
                    }
                }
            } else {
                diagnostics.report(
                    settingsNode,
                    "site \(name).broker.settings must be a mapping of broker config keys (docs/broker.md)")
            }
        }
        let listenersNode = reader.value("listeners")
        let tlsNode = reader.value("tls")
        let securityNode = reader.value("security")
        reader.finish(&diagnostics)
        guard let listen, let listenNode else { return nil }
        guard let (host, port) = parseHostPort(listen), port > 0 else {
            diagnostics.report(listenNode, "listen must be HOST:PORT with a port from 1 to 65535, got '\(listen)'")
            return nil
        }
        let context = "site \(name).broker"
        let listeners = BrokerListenerSettings.read(
            listeners: listenersNode, tls: tlsNode, plaintext: .init(key: "listen", host: host, port: port),
            scope: context, fixedPortsBecause: "links and clients are told it", &diagnostics)
        var security = SecuritySettings()
        if let securityNode {
            security = readSecurity(securityNode, context: "\(context).security", &diagnostics)
            let wanted = security.securityProtocol
            if wanted != .plaintext, !listeners.listeners.contains(where: { $0.securityProtocol == wanted }) {
                diagnostics.report(
                    securityNode,
                    "\(context).security has protocol \(wanted.rawValue), but no listener of site \(name) "
                        + "uses \(wanted.rawValue): add one to \(context).listeners, or connect with another protocol")
            }
        }
        guard let dataDir, dataDirNode != nil else { return nil }
        let resolved =
            dataDir.hasPrefix("/") ? dataDir : baseDirectory.appendingPathComponent(dataDir).standardizedFileURL.path
        config.advertisedHost = ListenerSpec.reachableHost(host)
        if config.advertisedPort == BrokerConfig().advertisedPort { config.advertisedPort = Int32(port) }
        return EmbeddedBroker(
            host: host, port: port, dataDirectory: resolved, config: config, listeners: listeners, security: security)
    }

    static func parseHostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    // MARK: Links

    private static func readLink(_ node: Node, siteNames: [String], _ diagnostics: inout DiagnosticCollector) -> Link? {
        guard var reader = MappingReader(node, context: "link", diagnostics: &diagnostics) else { return nil }
        let fromNode = reader.required("from", &diagnostics)
        let from = reader.string("from", &diagnostics)
        let toNode = reader.required("to", &diagnostics)
        let to = reader.string("to", &diagnostics)
        let topics = readFilter(reader.value("topics"), context: "link.topics", &diagnostics)
        let groups = readFilter(reader.value("groups"), context: "link.groups", &diagnostics)
        var naming = Link.Naming.prefix(separator: ".")
        let separator = reader.string("separator", &diagnostics) ?? "."
        if separator.isEmpty || separator.unicodeScalars.contains(where: { !".-_".unicodeScalars.contains($0) }) {
            diagnostics.report(
                reader.value("separator"), "separator must be made of '.', '-' or '_' (it goes into topic names)")
        }
        if let namingNode = reader.value("naming") {
            switch namingNode.string {
            case "prefix": naming = .prefix(separator: separator)
            case "identity": naming = .identity
            default:
                let hint =
                    namingNode.string.flatMap { nearestName(to: $0, in: ["prefix", "identity"]) }.map {
                        " (did you mean '\($0)'?)"
                    } ?? ""
                diagnostics.report(namingNode, "naming must be prefix or identity\(hint)")
            }
        } else {
            naming = .prefix(separator: separator)
        }
        let compression = reader.string("compression", &diagnostics) ?? "source"
        if !compressions.contains(compression) {
            let hint = nearestName(to: compression, in: compressions).map { " (did you mean '\($0)'?)" } ?? ""
            diagnostics.report(
                reader.value("compression"), "compression must be one of \(compressions.joined(separator: ", "))\(hint)"
            )
        }
        let provenance = reader.bool("provenance-header", &diagnostics) ?? false
        var offsets = Link.OffsetMode.auto
        if let offsetsNode = reader.value("offsets") {
            let names = Link.OffsetMode.allCases.map(\.rawValue)
            if let text = offsetsNode.string, let mode = Link.OffsetMode(rawValue: text) {
                offsets = mode
            } else {
                let hint =
                    offsetsNode.string.flatMap { nearestName(to: $0, in: names) }.map { " (did you mean '\($0)'?)" }
                    ?? ""
                diagnostics.report(offsetsNode, "offsets must be one of \(names.joined(separator: ", "))\(hint)")
            }
        }
        let syncDeletion = reader.bool("sync-topic-deletion", &diagnostics) ?? false
        let socketBuffer = reader.int("socket-buffer-bytes", &diagnostics)
        if let socketBuffer, !(4096...(1 << 30)).contains(socketBuffer) {
            diagnostics.report(
                reader.value("socket-buffer-bytes"), "socket-buffer-bytes must be from 4096 to 1073741824")
        }
        let refresh = reader.int("refresh-interval-ms", &diagnostics) ?? defaultRefreshIntervalMs
        let checkpoint = reader.int("checkpoint-interval-ms", &diagnostics) ?? defaultCheckpointIntervalMs
        for (key, value) in [("refresh-interval-ms", refresh), ("checkpoint-interval-ms", checkpoint)] where value < 100
        {
            diagnostics.report(reader.value(key), "\(key) must be at least 100")
        }
        reader.finish(&diagnostics)

        for (siteName, siteNode) in [(from, fromNode), (to, toNode)] {
            if let siteName, !siteNames.contains(siteName) {
                let hint = nearestName(to: siteName, in: siteNames).map { " (did you mean '\($0)'?)" } ?? ""
                diagnostics.report(
                    siteNode, "unknown site '\(siteName)'\(hint); sites are: \(siteNames.joined(separator: ", "))")
            }
        }
        guard let from, let to, let topics, let groups else { return nil }
        if from == to { diagnostics.report(toNode, "link from \(from) to itself: a link needs two different sites") }
        return Link(
            source: from, target: to, topics: topics, groups: groups, naming: naming, compression: compression,
            provenanceHeader: provenance, refreshIntervalMs: refresh, checkpointIntervalMs: checkpoint,
            offsets: offsets, socketBufferBytes: socketBuffer.map { Int($0) }, syncTopicDeletion: syncDeletion)
    }

    /// `{include: [...], exclude: [...]}`; include defaults to everything (".*").
    private static func readFilter(_ node: Node?, context: String, _ diagnostics: inout DiagnosticCollector)
        -> TopicFilter?
    {
        guard let node else { return TopicFilter(include: [".*"], exclude: []) }
        guard var reader = MappingReader(node, context: context, diagnostics: &diagnostics) else { return nil }
        let include = reader.strings("include", &diagnostics) ?? [(".*", node)]
        let exclude = reader.strings("exclude", &diagnostics) ?? []
        reader.finish(&diagnostics)
        for (pattern, patternNode) in include + exclude {
            do {
                _ = try NSRegularExpression(pattern: "^(?:\(pattern))$")
            } catch {
                diagnostics.report(patternNode, "'\(pattern)' in \(context) is not a valid regular expression")
            }
        }
        return TopicFilter(include: include.map(\.0), exclude: exclude.map(\.0))
    }

    /// Without a `links` list, two sites and a mode expand to the usual links: active-passive
    /// from `primary` to the other site, active-active both ways; prefix naming.
    private static func expandLinks(
        mode: Topology.Mode, primary: Node?, sites: [Site], root: Node,
        _ diagnostics: inout DiagnosticCollector
    ) -> [(Link, Node)] {
        func link(_ from: String, _ to: String) -> (Link, Node) {
            (
                Link(
                    source: from, target: to, topics: TopicFilter(include: [".*"], exclude: []),
                    groups: TopicFilter(include: [".*"], exclude: []),
                    naming: .prefix(separator: "."), compression: "source", provenanceHeader: false,
                    refreshIntervalMs: defaultRefreshIntervalMs, checkpointIntervalMs: defaultCheckpointIntervalMs),
                root
            )
        }
        switch mode {
        case .custom:
            return []
        case .activePassive, .activeActive:
            guard sites.count == 2 else {
                diagnostics.report(
                    root,
                    "without 'links', mode \(mode.rawValue) needs exactly two sites; list the links for \(sites.count) sites"
                )
                return []
            }
            if mode == .activeActive { return [link(sites[0].name, sites[1].name), link(sites[1].name, sites[0].name)] }
            guard let primary, let primaryName = primary.string,
                let source = sites.first(where: { $0.name == primaryName })
            else {
                diagnostics.report(
                    primary ?? root, "without 'links', active-passive needs 'primary: SITE' naming one of the two sites"
                )
                return []
            }
            let other = sites.first { $0.name != source.name }!
            return [link(source.name, other.name)]
        }
    }

    // MARK: Cross checks

    private static func checkEmbeddedClashes(_ sites: [(Site, Node)], _ diagnostics: inout DiagnosticCollector) {
        var seen: [(String, EmbeddedBroker)] = []
        for (site, node) in sites {
            guard case let .embedded(broker) = site.kind else { continue }
            for (otherName, other) in seen {
                let ports = [(broker.host, broker.port)] + broker.listeners.listeners.map { ($0.host, $0.port) }
                let otherPorts = [(other.host, other.port)] + other.listeners.listeners.map { ($0.host, $0.port) }
                for (host, port) in ports
                where otherPorts.contains(where: { $0.1 == port && BrokerListenerSettings.hostsOverlap($0.0, host) }) {
                    diagnostics.report(
                        node,
                        "sites \(otherName) and \(site.name) both listen on port \(port): give each embedded broker its own port"
                    )
                }
                let a = broker.dataDirectory + "/", b = other.dataDirectory + "/"
                if a.hasPrefix(b) || b.hasPrefix(a) {
                    diagnostics.report(
                        node,
                        "sites \(otherName) and \(site.name) share the data directory \(other.dataDirectory): give each embedded broker its own"
                    )
                }
            }
            seen.append((site.name, broker))
        }
    }

    private static func checkLinks(
        _ links: [(Link, Node)], mode: Topology.Mode, _ diagnostics: inout DiagnosticCollector
    ) {
        for (index, (link, node)) in links.enumerated() {
            for (other, _) in links[..<index] {
                if other.source == link.source && other.target == link.target {
                    diagnostics.report(
                        node,
                        "a second link from \(link.source) to \(link.target): both would write the same remote topics; merge their topic patterns into one link"
                    )
                } else if other.target == link.target && other.naming == .identity && link.naming == .identity {
                    diagnostics.report(
                        node,
                        "links \(other.source) → \(link.target) and \(link.source) → \(link.target) both use identity naming: a topic with the same name at both sources would be written to one remote topic at \(link.target); use naming: prefix on one of them"
                    )
                }
            }
            let reverse = links.first { $0.0.source == link.target && $0.0.target == link.source }?.0
            switch mode {
            case .activePassive:
                if reverse != nil, link.source > link.target {
                    diagnostics.report(
                        node,
                        "active-passive topology has links both ways between \(link.target) and \(link.source): use mode: active-active, or remove one"
                    )
                }
            case .activeActive:
                if reverse == nil {
                    diagnostics.report(
                        node,
                        "active-active: link \(link.source) → \(link.target) has no reverse link \(link.target) → \(link.source); add it, or use mode: active-passive"
                    )
                }
            case .custom:
                break
            }
            if link.offsets == .preserve, !link.mayPreserveOffsets {
                diagnostics.report(
                    node["offsets"] ?? node,
                    "offsets: preserve with naming: identity needs a one-way link, but \(link.target) → \(link.source) writes the other way: producers at both sites write the same topic names, and a mirror topic refuses the target's own; use naming: prefix, or offsets: translate"
                )
            }
            if let reverse, link.naming == .identity, reverse.naming == .identity,
                !(link.provenanceHeader && reverse.provenanceHeader),
                link.source < link.target
            {
                diagnostics.report(
                    node,
                    "\(link.source) and \(link.target) mirror each other with identity naming and no loop protection: records would loop forever; set provenance-header: true on both links, or use naming: prefix"
                )
            }
        }
    }
}
