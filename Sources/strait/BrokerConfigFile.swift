import BrokerCore
import Foundation
import LogStorage
import Yams

/// A problem in a config file, located as FILE:LINE:COLUMN.
struct ConfigFileError: Error, CustomStringConvertible {
    var file: String
    var line: Int
    var column: Int
    var message: String

    var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Reads the broker's YAML config file (every key optional) on top of `BrokerConfig` defaults.
/// Unknown keys and wrongly typed values are errors with their position, never ignored.
enum BrokerConfigFile {
    static let keys = [
        "node-id", "cluster-id", "advertised-host", "advertised-port", "auto-create-topics", "num-partitions",
        "flush", "flush-interval-ms", "segment-bytes", "segment-ms", "retention-ms", "retention-bytes",
        "retention-check-interval-ms", "message-max-bytes", "max-request-bytes", "delete-retention-ms",
    ]

    static func apply(file path: String, to config: inout BrokerConfig) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigFileError(file: path, line: 1, column: 1, message: "cannot read the config file: \(error.localizedDescription)")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let error as YamlError {
            throw ConfigFileError(file: path, line: yamlLine(error), column: yamlColumn(error), message: "invalid YAML: \(error)")
        }
        guard let root else { return }
        guard let mapping = root.mapping else {
            throw error(path, root, "the config file must be a mapping of keys to values")
        }
        var flushMode = "interval"
        var flushInterval: Int64 = 1000
        if case let .interval(ms) = config.log.flushPolicy { flushInterval = ms } else { flushMode = "per-batch" }
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error(path, keyNode, "keys must be strings") }
            func int() throws -> Int64 {
                guard let scalar = value.scalar, let number = Int64(scalar.string) else {
                    throw error(path, value, "\(key) must be an integer")
                }
                return number
            }
            func bool() throws -> Bool {
                guard let scalar = value.scalar, let flag = Bool(scalar.string) else { throw error(path, value, "\(key) must be true or false") }
                return flag
            }
            func string() throws -> String {
                guard let scalar = value.scalar else { throw error(path, value, "\(key) must be a string") }
                return scalar.string
            }
            switch key {
            case "node-id": config.nodeId = Int32(clamping: try int())
            case "cluster-id": config.clusterId = try string()
            case "advertised-host": config.advertisedHost = try string()
            case "advertised-port": config.advertisedPort = Int32(clamping: try int())
            case "auto-create-topics": config.autoCreateTopics = try bool()
            case "num-partitions":
                let n = try int()
                guard n >= 1 else { throw error(path, value, "num-partitions must be at least 1") }
                config.defaultPartitions = Int32(clamping: n)
            case "flush":
                flushMode = try string()
                guard flushMode == "interval" || flushMode == "per-batch" else {
                    throw error(path, value, "flush must be 'interval' or 'per-batch', got '\(flushMode)'")
                }
            case "flush-interval-ms":
                flushInterval = try int()
                guard flushInterval >= 1 else { throw error(path, value, "flush-interval-ms must be at least 1") }
            case "segment-bytes":
                let n = try int()
                guard n >= 1024, n <= Int64(Int32.max) else { throw error(path, value, "segment-bytes must be between 1024 and \(Int32.max)") }
                config.log.segmentBytes = Int(n)
            case "segment-ms": config.log.segmentMs = try int()
            case "retention-ms": config.log.retentionMs = try int()
            case "retention-bytes": config.log.retentionBytes = try int()
            case "retention-check-interval-ms": config.retentionCheckIntervalMs = try int()
            case "message-max-bytes": config.messageMaxBytes = Int(try int())
            case "max-request-bytes": config.maxRequestBytes = Int(try int())
            case "delete-retention-ms": config.deleteRetentionMs = try int()
            default:
                let hint = nearest(key, in: keys).map { " (did you mean '\($0)'?)" } ?? ""
                throw error(path, keyNode, "unknown key '\(key)'\(hint)")
            }
        }
        config.log.flushPolicy = flushMode == "per-batch" ? .everyBatch : .interval(milliseconds: flushInterval)
    }

    private static func error(_ path: String, _ node: Node, _ message: String) -> ConfigFileError {
        ConfigFileError(file: path, line: node.mark.map { $0.line } ?? 1, column: node.mark.map { $0.column } ?? 1, message: message)
    }

    private static func yamlLine(_ error: YamlError) -> Int {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        default: return 1
        }
    }

    private static func yamlColumn(_ error: YamlError) -> Int {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.column
        default: return 1
        }
    }

    /// The closest known key by edit distance, if it is close enough to be a likely typo.
    static func nearest(_ word: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(1, a.count) where !a.isEmpty {
                var previous = row[0]
                row[0] = i
                for j in 1...max(1, b.count) where !b.isEmpty {
                    let current = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = current
                }
            }
            return row[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(word), Array($0))) }.min { $0.1 < $1.1 }
        guard let (best, score) = scored, score <= max(2, word.count / 3) else { return nil }
        return best
    }
}
