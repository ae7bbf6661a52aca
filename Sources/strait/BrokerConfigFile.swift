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
/// `BrokerConfig` defaults. Unknown keys and bad values are errors with their position; the first
/// problem in the file is thrown. `listeners:` and `tls:` are read by the reader topology sites
/// share (`BrokerListenerSettings`), checked against the `--listen` listener `plaintext`.
enum BrokerConfigFile {
    static func apply(file path: String, to config: inout BrokerConfig, plaintext: BrokerListenerSettings.Plaintext)
        throws
    {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigFileError(
                file: path, line: 1, column: 1, message: "cannot read the config file: \(error.localizedDescription)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConfigFileError(file: path, line: 1, column: 1, message: "invalid YAML: \(error)")
        }
        guard let root else { return }
        guard let mapping = root.mapping else {
            throw error(path, root, "the config file must be a mapping of keys to values")
        }
        var listenersNode: Node?, tlsNode: Node?
        var problems: [ConfigFileError] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error(path, keyNode, "keys must be strings") }
            switch key {
            case "listeners":
                listenersNode = value
                continue
            case "tls":
                tlsNode = value
                continue
            default:
                break
            }
            guard BrokerConfig.settingNames.contains(key) else {
                let hint =
                    nearestName(to: key, in: BrokerConfig.settingNames + ["listeners", "tls"]).map {
                        " (did you mean '\($0)'?)"
                    } ?? ""
                problems.append(error(path, keyNode, "unknown key '\(key)'\(hint)"))
                continue
            }
            guard let scalar = value.scalar else {
                problems.append(error(path, value, "\(key) must be a plain value"))
                continue
            }
            if let problem = config.apply(setting: key, value: scalar.string) {
                problems.append(error(path, value, problem))
            }
        }
        let (listeners, diagnostics) = BrokerListenerSettings.read(
            listeners: listenersNode, tls: tlsNode, plaintext: plaintext,
            scope: nil, file: path)
        problems += diagnostics.map {
            ConfigFileError(file: $0.file, line: $0.line, column: $0.column, message: $0.message)
        }
        if let first = problems.min(by: { ($0.line, $0.column) < ($1.line, $1.column) }) { throw first }
        config.listeners = listeners.listeners
        config.tls = listeners.tls
    }

    private static func error(_ path: String, _ node: Node, _ message: String) -> ConfigFileError {
        ConfigFileError(file: path, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, message: message)
    }
}
