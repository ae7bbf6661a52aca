import Foundation
import ListenerSettings
import Yams

/// A broker's listeners beyond its PLAINTEXT one, and the TLS material of its TLS listeners, as
/// written in YAML: the `listeners:` and `tls:` keys of a broker config file (`strait broker
/// --config`) and of a topology site's `broker:` section. One reader for both, so the keys, their
/// meanings and their checks are the same (docs/broker.md, "Listeners" and "TLS").
public struct BrokerListenerSettings: Sendable, Equatable {
    public var listeners: [ListenerSpec] = []
    public var tls: BrokerTLSSettings?

    public init(listeners: [ListenerSpec] = [], tls: BrokerTLSSettings? = nil) {
        self.listeners = listeners
        self.tls = tls
    }

    /// The PLAINTEXT listener the broker is started with, which the others must not clash with.
    public struct Plaintext: Sendable {
        /// How it is written, for messages: `--listen`, `listen`.
        public var key: String
        public var host: String
        public var port: Int

        public init(key: String, host: String, port: Int) {
            self.key = key
            self.host = host
            self.port = port
        }
    }

    /// Reads `listeners` and `tls` (either may be absent) and checks them together: every problem
    /// comes back, at its position in `file`. `scope` names the section they are in for messages
    /// ("site east.broker"; nil: the top of a broker config file). With `fixedPortsBecause`, port 0
    /// (any free port) is refused for that reason.
    public static func read(
        listeners: Node?, tls: Node?, plaintext: Plaintext, scope: String?, fixedPortsBecause: String? = nil,
        file: String
    ) -> (settings: BrokerListenerSettings, diagnostics: [TopologyDiagnostic]) {
        var diagnostics = DiagnosticCollector(file: file)
        let settings = read(
            listeners: listeners, tls: tls, plaintext: plaintext, scope: scope, fixedPortsBecause: fixedPortsBecause,
            &diagnostics)
        return (settings, diagnostics.diagnostics)
    }

    static func read(
        listeners listenersNode: Node?, tls tlsNode: Node?, plaintext: Plaintext, scope: String?,
        fixedPortsBecause: String?, _ diagnostics: inout DiagnosticCollector
    ) -> BrokerListenerSettings {
        var settings = BrokerListenerSettings()
        if let tlsNode {
            settings.tls = readTLS(tlsNode, context: scope.map { "\($0).tls" } ?? "tls", &diagnostics)
        }
        guard let listenersNode else { return settings }
        guard let sequence = listenersNode.sequence else {
            diagnostics.report(listenersNode, "listeners must be a list of listeners")
            return settings
        }
        let context = scope.map { "a listener in \($0).listeners" } ?? "a listener"
        var taken: [(name: String, host: String, port: Int)] = [(plaintext.key, plaintext.host, plaintext.port)]
        for item in sequence {
            guard
                let (spec, listenNode, protocolNode) = readListener(
                    item, context: context, plaintext: plaintext,
                    names: settings.listeners.map(\.name), &diagnostics)
            else { continue }
            if spec.port == 0, let reason = fixedPortsBecause {
                diagnostics.report(listenNode, "listener \(spec.name) needs a port from 1 to 65535 (\(reason))")
            }
            if spec.port != 0,
                let clash = taken.first(where: { $0.port == spec.port && hostsOverlap($0.host, spec.host) })
            {
                diagnostics.report(
                    listenNode,
                    "listener \(spec.name) and \(clash.name) both listen on port \(spec.port): give each listener its own port"
                )
            }
            taken.append((spec.name, spec.host, spec.port))
            if spec.securityProtocol.usesTLS, tlsNode == nil {
                diagnostics.report(
                    protocolNode ?? item,
                    "listener \(spec.name) uses \(spec.securityProtocol.rawValue), which needs "
                        + "\(scope.map { "tls: in \($0)" } ?? "a tls: section") (cert-file, key-file)")
            }
            settings.listeners.append(spec)
        }
        return settings
    }

    /// Whether two listen hosts can take the same port: the same host, or a wildcard.
    static func hostsOverlap(_ a: String, _ b: String) -> Bool {
        a == b || ["0.0.0.0", "::"].contains(a) || ["0.0.0.0", "::"].contains(b)
    }

    /// `{name: SSL, listen: HOST:PORT, protocol: ssl, advertised: HOST:PORT, connections-max-reauth-ms: N}`,
    /// with the nodes of its `listen` and `protocol` for later checks; nil when unusable.
    private static func readListener(
        _ item: Node, context: String, plaintext: Plaintext, names: [String],
        _ diagnostics: inout DiagnosticCollector
    ) -> (ListenerSpec, Node, Node?)? {
        guard var reader = MappingReader(item, context: context, diagnostics: &diagnostics) else { return nil }
        defer { reader.finish(&diagnostics) }
        let name = reader.string("name", &diagnostics)
        let listen = reader.string("listen", &diagnostics)
        let protocolText = reader.string("protocol", &diagnostics)
        let advertised = reader.string("advertised", &diagnostics)
        let reauth = reader.int("connections-max-reauth-ms", &diagnostics)
        guard let name, !name.isEmpty else {
            if reader.value("name") == nil || name == "" { diagnostics.report(item, "a listener needs a name") }
            return nil
        }
        if names.contains(name) || name == "PLAINTEXT" {
            diagnostics.report(
                reader.value("name"), "listener name \(name) is used twice (PLAINTEXT is the \(plaintext.key) one)")
        }
        var securityProtocol = SecurityProtocol.plaintext
        if let protocolText {
            if let parsed = SecurityProtocol(rawValue: protocolText.lowercased()) {
                securityProtocol = parsed
            } else {
                let names = SecurityProtocol.allCases.map(\.rawValue)
                let hint =
                    nearestName(to: protocolText.lowercased(), in: names).map { " (did you mean '\($0)'?)" } ?? ""
                diagnostics.report(
                    reader.value("protocol"),
                    "protocol must be one of \(names.joined(separator: ", ")), got '\(protocolText)'\(hint)")
            }
        }
        guard let listen, let listenNode = reader.value("listen") else {
            if reader.value("listen") == nil { diagnostics.report(item, "listener \(name) needs listen: HOST:PORT") }
            return nil
        }
        guard let (host, port) = TopologyLoader.parseHostPort(listen) else {
            diagnostics.report(listenNode, "listen must be HOST:PORT, got '\(listen)'")
            return nil
        }
        var spec = ListenerSpec(name: name, host: host, port: port, securityProtocol: securityProtocol)
        if let advertised {
            if let (advertisedHost, advertisedPort) = TopologyLoader.parseHostPort(advertised) {
                spec.advertisedHost = advertisedHost
                spec.advertisedPort = Int32(advertisedPort)
            } else {
                diagnostics.report(reader.value("advertised"), "advertised must be HOST:PORT, got '\(advertised)'")
            }
        }
        if let reauth {
            if reauth < 0 {
                diagnostics.report(
                    reader.value("connections-max-reauth-ms"),
                    "connections-max-reauth-ms must be an integer of at least 0, got '\(reauth)'")
            } else if !securityProtocol.usesSASL {
                diagnostics.report(
                    reader.value("connections-max-reauth-ms"),
                    "connections-max-reauth-ms applies to SASL sessions, but listener \(name) is \(securityProtocol.rawValue)"
                )
            } else {
                spec.connectionsMaxReauthMs = reauth
            }
        }
        return (spec, listenNode, reader.value("protocol"))
    }

    /// `{cert-file, key-file, ca-file, client-auth, principal-mapping-rules, cipher-suites}`. The
    /// files must be readable now; whether they hold a usable certificate and key is found when
    /// the broker builds its TLS context.
    private static func readTLS(_ node: Node, context: String, _ diagnostics: inout DiagnosticCollector)
        -> BrokerTLSSettings?
    {
        guard var reader = MappingReader(node, context: context, diagnostics: &diagnostics) else { return nil }
        defer { reader.finish(&diagnostics) }
        let cert = reader.string("cert-file", &diagnostics)
        let key = reader.string("key-file", &diagnostics)
        let ca = reader.string("ca-file", &diagnostics)
        let clientAuthText = reader.string("client-auth", &diagnostics)
        let rules = reader.strings("principal-mapping-rules", &diagnostics)
        let suites = reader.strings("cipher-suites", &diagnostics)
        for (key, path) in [("cert-file", cert), ("key-file", key), ("ca-file", ca)] {
            guard let path else { continue }
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                diagnostics.report(reader.value(key), "\(context).\(key) \(path): no such file")
            } else if isDirectory.boolValue || !FileManager.default.isReadableFile(atPath: path) {
                diagnostics.report(reader.value(key), "\(context).\(key) \(path): not a readable file")
            }
        }
        if cert == nil, reader.value("cert-file") == nil {
            diagnostics.report(node, "\(context) needs cert-file (PEM certificate chain)")
        }
        if key == nil, reader.value("key-file") == nil {
            diagnostics.report(node, "\(context) needs key-file (PEM private key)")
        }
        var clientAuth = BrokerTLSSettings.ClientAuth.none
        if let clientAuthText {
            if let parsed = BrokerTLSSettings.ClientAuth(rawValue: clientAuthText) {
                clientAuth = parsed
            } else {
                diagnostics.report(
                    reader.value("client-auth"),
                    "client-auth must be none, requested or required, got '\(clientAuthText)'")
            }
        }
        if clientAuth != .none, ca == nil {
            diagnostics.report(
                node, "client-auth \(clientAuth.rawValue) needs ca-file (the CA client certificates chain to)")
        }
        guard let cert, let key else { return nil }
        var settings = BrokerTLSSettings(certificateFile: cert, keyFile: key, caFile: ca, clientAuth: clientAuth)
        if let rules {
            settings.principalMappingRules = rules.flatMap { $0.0.split(separator: "\n").map(String.init) }
        }
        if let suites {
            // A list, or one string of names separated by commas, colons or newlines (OpenSSL's form).
            let names = suites.flatMap { $0.0.split(whereSeparator: { ",:\n".contains($0) }) }
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if names.isEmpty {
                diagnostics.report(reader.value("cipher-suites"), "cipher-suites is empty")
            } else {
                settings.cipherSuites = names
            }
        }
        return settings
    }
}
