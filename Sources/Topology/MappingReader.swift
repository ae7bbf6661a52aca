import Yams

/// Reads one YAML mapping of a topology file: typed getters that report wrong types at the
/// value's position, and `finish()` that reports every key nobody asked for (with the nearest
/// valid key suggested).
struct MappingReader {
    let node: Node
    let context: String
    private let pairs: [(key: Node, value: Node)]
    private var known: [String] = []

    /// Nil (after reporting) when `node` is not a mapping.
    init?(_ node: Node, context: String, diagnostics: inout DiagnosticCollector) {
        guard let mapping = node.mapping else {
            diagnostics.report(node, "\(context) must be a mapping of keys to values")
            return nil
        }
        self.node = node
        self.context = context
        pairs = mapping.map { ($0.key, $0.value) }
    }

    mutating func value(_ key: String) -> Node? {
        known.append(key)
        return pairs.first { $0.key.string == key }?.value
    }

    mutating func required(_ key: String, _ diagnostics: inout DiagnosticCollector) -> Node? {
        guard let value = value(key) else {
            diagnostics.report(node, "\(context) is missing '\(key)'")
            return nil
        }
        return value
    }

    mutating func string(_ key: String, _ diagnostics: inout DiagnosticCollector) -> String? {
        guard let value = value(key) else { return nil }
        guard let scalar = value.scalar, value.tag.description != "tag:yaml.org,2002:null" else {
            diagnostics.report(value, "\(context).\(key) must be a string")
            return nil
        }
        return scalar.string
    }

    mutating func int(_ key: String, _ diagnostics: inout DiagnosticCollector) -> Int64? {
        guard let value = value(key) else { return nil }
        guard let number = value.scalar.flatMap({ Int64($0.string) }) else {
            diagnostics.report(value, "\(context).\(key) must be an integer")
            return nil
        }
        return number
    }

    mutating func bool(_ key: String, _ diagnostics: inout DiagnosticCollector) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let flag = value.scalar.flatMap({ Bool($0.string) }) else {
            diagnostics.report(value, "\(context).\(key) must be true or false")
            return nil
        }
        return flag
    }

    /// A list of strings; a single string is taken as a list of one.
    mutating func strings(_ key: String, _ diagnostics: inout DiagnosticCollector) -> [(String, Node)]? {
        guard let value = value(key) else { return nil }
        if let scalar = value.scalar { return [(scalar.string, value)] }
        guard let sequence = value.sequence else {
            diagnostics.report(value, "\(context).\(key) must be a list of strings")
            return nil
        }
        var result: [(String, Node)] = []
        for item in sequence {
            guard let scalar = item.scalar else {
                diagnostics.report(item, "\(context).\(key) must be a list of strings")
                continue
            }
            result.append((scalar.string, item))
        }
        return result
    }

    /// Reports keys that no getter asked for.
    func finish(_ diagnostics: inout DiagnosticCollector) {
        for (key, _) in pairs {
            guard let name = key.string else {
                diagnostics.report(key, "\(context) keys must be strings")
                continue
            }
            if !known.contains(name) {
                var valid: [String] = []
                for name in known where !valid.contains(name) { valid.append(name) }
                let hint = nearestName(to: name, in: valid).map { " (did you mean '\($0)'?)" } ?? ""
                diagnostics.report(
                    key, "unknown key '\(name)' in \(context)\(hint); valid keys: \(valid.joined(separator: ", "))")
            }
        }
    }
}
