import BrokerCore
import Foundation
import Topology
import Yams

/// A problem in a config file, located as FILE:LINE:COLUMN.
struct ConfigFileError: Error, CustomStringConvertible {
    var file: String
    var line: Int
    var column: Int
    var message: String

    var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Reads the broker's YAML config file (every key optional, docs/broker.md) on top of
/// `BrokerConfig` defaults. Unknown keys and bad values are errors with their position.
enum BrokerConfigFile {
    static func apply(file path: String, to config: inout BrokerConfig) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigFileError(file: path, line: 1, column: 1, message: "cannot read the config file: \(error.localizedDescription)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConfigFileError(file: path, line: 1, column: 1, message: "invalid YAML: \(error)")
        }
        guard let root else { return }
        guard let mapping = root.mapping else { throw error(path, root, "the config file must be a mapping of keys to values") }
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error(path, keyNode, "keys must be strings") }
            switch key {
            case "listeners":
                config.listeners = try listeners(value, path)
                continue
            case "tls":
                config.tls = try tls(value, path)
                continue
            default:
                break
            }
            guard BrokerConfig.settingNames.contains(key) else {
                let hint = nearestName(to: key, in: BrokerConfig.settingNames + ["listeners", "tls"]).map { " (did you mean '\($0)'?)" } ?? ""
                throw error(path, keyNode, "unknown key '\(key)'\(hint)")
            }
            guard let scalar = value.scalar else { throw error(path, value, "\(key) must be a plain value") }
            if let problem = config.apply(setting: key, value: scalar.string) { throw error(path, value, problem) }
        }
    }

    /// Reads a mapping of scalar values, refusing keys outside `allowed`.
    private static func fields(_ node: Node, _ path: String, _ context: String, allowed: [String]) throws -> [String: (String, Node)] {
        guard let mapping = node.mapping else { throw error(path, node, "\(context) must be a mapping") }
        var result: [String: (String, Node)] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string, allowed.contains(key) else {
                let name = keyNode.string ?? ""
                let hint = nearestName(to: name, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                throw error(path, keyNode, "unknown key '\(name)' in \(context)\(hint); allowed: \(allowed.joined(separator: ", "))")
            }
            if key == "principal-mapping-rules" || key == "cipher-suites", let sequence = value.sequence {
                result[key] = (sequence.compactMap(\.string).joined(separator: "\n"), value)
                continue
            }
            guard let scalar = value.scalar else { throw error(path, value, "\(context).\(key) must be a plain value") }
            result[key] = (scalar.string, value)
        }
        return result
    }

    private static func hostPort(_ text: String, _ node: Node, _ path: String, _ what: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
              colon != text.startIndex else {
            throw error(path, node, "\(what) must be HOST:PORT, got '\(text)'")
        }
        return (String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    /// `listeners: [{name: SSL, listen: HOST:PORT, protocol: ssl, advertised: HOST:PORT}]`.
    private static func listeners(_ node: Node, _ path: String) throws -> [ListenerSpec] {
        guard let sequence = node.sequence else { throw error(path, node, "listeners must be a list of listeners") }
        var result: [ListenerSpec] = []
        for item in sequence {
            let values = try fields(item, path, "a listener", allowed: ["name", "listen", "protocol", "advertised", "connections-max-reauth-ms"])
            guard let (name, nameNode) = values["name"], !name.isEmpty else { throw error(path, item, "a listener needs a name") }
            if result.contains(where: { $0.name == name }) || name == "PLAINTEXT" {
                throw error(path, nameNode, "listener name \(name) is used twice (PLAINTEXT is the --listen one)")
            }
            guard let (listen, listenNode) = values["listen"] else { throw error(path, item, "listener \(name) needs listen: HOST:PORT") }
            let (host, port) = try hostPort(listen, listenNode, path, "listen")
            let protocolText = values["protocol"]?.0 ?? "plaintext"
            guard let securityProtocol = ListenerProtocol(rawValue: protocolText.lowercased()) else {
                throw error(path, values["protocol"]!.1, "protocol must be one of \(ListenerProtocol.allCases.map(\.rawValue).joined(separator: ", ")), got '\(protocolText)'")
            }
            var spec = ListenerSpec(name: name, host: host, port: port, securityProtocol: securityProtocol)
            if let (advertised, advertisedNode) = values["advertised"] {
                let (advertisedHost, advertisedPort) = try hostPort(advertised, advertisedNode, path, "advertised")
                spec.advertisedHost = advertisedHost
                spec.advertisedPort = Int32(advertisedPort)
            }
            if let (text, node) = values["connections-max-reauth-ms"] {
                guard let ms = Int64(text), ms >= 0 else {
                    throw error(path, node, "connections-max-reauth-ms must be an integer of at least 0, got '\(text)'")
                }
                guard securityProtocol.usesSASL else {
                    throw error(path, node, "connections-max-reauth-ms applies to SASL sessions, but listener \(name) is \(securityProtocol.rawValue)")
                }
                spec.connectionsMaxReauthMs = ms
            }
            result.append(spec)
        }
        return result
    }

    /// `tls: {cert-file, key-file, ca-file, client-auth, principal-mapping-rules, cipher-suites}`.
    private static func tls(_ node: Node, _ path: String) throws -> BrokerTLSSettings {
        let values = try fields(node, path, "tls", allowed: ["cert-file", "key-file", "ca-file", "client-auth", "principal-mapping-rules", "cipher-suites"])
        guard let cert = values["cert-file"]?.0 else { throw error(path, node, "tls needs cert-file (PEM certificate chain)") }
        guard let key = values["key-file"]?.0 else { throw error(path, node, "tls needs key-file (PEM private key)") }
        var settings = BrokerTLSSettings(certificateFile: cert, keyFile: key, caFile: values["ca-file"]?.0)
        if let (text, textNode) = values["client-auth"] {
            guard let auth = BrokerTLSSettings.ClientAuth(rawValue: text) else {
                throw error(path, textNode, "client-auth must be none, requested or required, got '\(text)'")
            }
            settings.clientAuth = auth
        }
        if let (rules, _) = values["principal-mapping-rules"] {
            settings.principalMappingRules = rules.split(separator: "\n").map(String.init)
        }
        if let (suites, suitesNode) = values["cipher-suites"] {
            let names = suites.split(whereSeparator: { $0 == "\n" || $0 == "," || $0 == ":" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw error(path, suitesNode, "cipher-suites is empty") }
            settings.cipherSuites = names
        }
        if settings.clientAuth != .none && settings.caFile == nil {
            throw error(path, node, "client-auth \(settings.clientAuth.rawValue) needs ca-file (the CA client certificates chain to)")
        }
        return settings
    }

    private static func error(_ path: String, _ node: Node, _ message: String) -> ConfigFileError {
        ConfigFileError(file: path, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, message: message)
    }
}
