import Foundation

/// Swift naming and literal helpers shared by the emitters.
enum SwiftNames {
    static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "protocol", "public", "rethrows", "static",
        "struct", "subscript", "typealias", "var", "break", "case", "continue", "default", "defer", "do",
        "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where", "while",
        "as", "Any", "catch", "false", "is", "nil", "super", "self", "Self", "throw", "throws", "true", "try",
        "Type"
    ]

    /// lowerCamelCase of a schema name ("ThrottleTimeMs" -> "throttleTimeMs").
    static func lowerCamel(_ name: String) -> String {
        guard let first = name.first else { return name }
        return first.lowercased() + name.dropFirst()
    }

    /// A property or parameter name, escaped with backticks when it is a keyword.
    static func property(_ schemaName: String) -> String {
        let name = lowerCamel(schemaName)
        return keywords.contains(name) ? "`\(name)`" : name
    }

    static func stringLiteral(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Collapses a doc text to one line.
    static func docLine(_ text: String) -> String {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: " ")
    }
}

/// Accumulates indented source lines.
struct CodeWriter {
    private(set) var text = ""
    private var depth = 0

    mutating func line(_ content: String = "") {
        if content.isEmpty {
            text += "\n"
        } else {
            text += String(repeating: "    ", count: depth) + content + "\n"
        }
    }

    /// Writes `opener {`, the body one level deeper, then `}` (plus `closerSuffix`).
    mutating func block(_ opener: String, closerSuffix: String = "", _ body: (inout CodeWriter) throws -> Void) rethrows
    {
        line(opener + " {")
        depth += 1
        try body(&self)
        depth -= 1
        line("}" + closerSuffix)
    }

    /// Writes `opener` verbatim (it must end with an opening brace, as in `f { x in`), the body
    /// one level deeper, then `}`.
    mutating func rawBlock(_ opener: String, _ body: (inout CodeWriter) throws -> Void) rethrows {
        line(opener)
        depth += 1
        try body(&self)
        depth -= 1
        line("}")
    }

    /// Writes `switch subject {`, the cases at the same depth (Swift style), then `}`.
    mutating func switchBlock(_ subject: String, _ body: (inout CodeWriter) throws -> Void) rethrows {
        line("switch \(subject) {")
        try body(&self)
        line("}")
    }

    mutating func doc(_ about: String?) {
        guard let about, !about.isEmpty else { return }
        line("/// " + SwiftNames.docLine(about))
    }
}
