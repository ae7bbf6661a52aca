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
            guard BrokerConfig.settingNames.contains(key) else {
                let hint = nearestName(to: key, in: BrokerConfig.settingNames).map { " (did you mean '\($0)'?)" } ?? ""
                throw error(path, keyNode, "unknown key '\(key)'\(hint)")
            }
            guard let scalar = value.scalar else { throw error(path, value, "\(key) must be a plain value") }
            if let problem = config.apply(setting: key, value: scalar.string) { throw error(path, value, problem) }
        }
    }

    private static func error(_ path: String, _ node: Node, _ message: String) -> ConfigFileError {
        ConfigFileError(file: path, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, message: message)
    }
}
