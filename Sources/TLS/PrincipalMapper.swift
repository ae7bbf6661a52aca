import Foundation

/// Maps a certificate subject (RFC 2253) to a Kafka principal, following the subset of Kafka's
/// `ssl.principal.mapping.rules` that matters in practice:
///
///     RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,
///     RULE:^CN=([^,]*),.*$/$1/L,
///     DEFAULT
///
/// Rules are tried in order. A `RULE:pattern/replacement/[L|U]` applies when `pattern` matches
/// the whole subject; the name is `replacement` with `$1`... replaced by the groups, then
/// lower- (`L`) or upper-cased (`U`). `DEFAULT` is the whole subject. Slashes inside a pattern
/// or replacement are written `\/`. With no rule that applies there is no principal (Kafka
/// fails the authentication).
public struct PrincipalMapper: Sendable {
    public enum CaseConversion: String, Sendable, Hashable {
        case lower = "L"
        case upper = "U"
    }

    public enum Rule: Sendable, Hashable {
        case `default`
        case rule(pattern: String, replacement: String, caseConversion: CaseConversion?)
    }

    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case invalidRule(String)
        case invalidPattern(String, reason: String)

        public var description: String {
            switch self {
            case .invalidRule(let text): return "invalid ssl.principal.mapping.rules entry: \(text)"
            case .invalidPattern(let pattern, let reason):
                return "invalid principal mapping pattern \(pattern): \(reason)"
            }
        }
    }

    private struct Compiled: @unchecked Sendable {  // NSRegularExpression is immutable and thread-safe
        let rule: Rule
        let regex: NSRegularExpression?
    }

    public let rules: [Rule]
    private let compiled: [Compiled]

    /// Only `DEFAULT`: the principal name is the subject itself.
    public static let `default` = try! PrincipalMapper(rules: [.default])

    public init(rules: [Rule]) throws {
        self.rules = rules.isEmpty ? [.default] : rules
        self.compiled = try self.rules.map { rule in
            switch rule {
            case .default:
                return Compiled(rule: rule, regex: nil)
            case .rule(let pattern, _, _):
                do {
                    return Compiled(rule: rule, regex: try NSRegularExpression(pattern: "^(?:\(pattern))$"))
                } catch {
                    throw ParseError.invalidPattern(pattern, reason: "\(error)")
                }
            }
        }
    }

    /// Parses the value of `ssl.principal.mapping.rules` (rules separated by commas or
    /// newlines; an empty string means `DEFAULT`).
    public init(rules text: String) throws {
        try self.init(rules: Self.parse(text))
    }

    /// Parses a list of rule texts, one or more rules each (as the broker config file lists them).
    public init(ruleStrings: [String]) throws {
        try self.init(rules: ruleStrings.flatMap { try Self.parse($0) })
    }

    /// The principal name for a subject, or nil when no rule applies.
    public func name(forSubject subject: String) -> String? {
        for entry in compiled {
            switch entry.rule {
            case .default:
                return subject
            case .rule(_, let replacement, let conversion):
                guard let regex = entry.regex else { continue }
                let whole = NSRange(subject.startIndex..<subject.endIndex, in: subject)
                guard let match = regex.firstMatch(in: subject, range: whole), match.range == whole else { continue }
                let name = regex.replacementString(for: match, in: subject, offset: 0, template: replacement)
                switch conversion {
                case .lower: return name.lowercased()
                case .upper: return name.uppercased()
                case nil: return name
                }
            }
        }
        return nil
    }

    /// "User:<name>" for a subject; "User:ANONYMOUS" when the peer sent no certificate
    /// (nil subject); nil when no rule applies.
    public func principal(forSubject subject: String?) -> String? {
        guard let subject else { return "User:ANONYMOUS" }
        return name(forSubject: subject).map { "User:\($0)" }
    }

    // MARK: Parsing

    static func parse(_ text: String) throws -> [Rule] {
        var rules: [Rule] = []
        var rest = Substring(text)
        func skipSpace() { rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "\r" } }
        while true {
            rest = rest.drop { $0.isWhitespace }
            if rest.isEmpty { break }
            if rest.hasPrefix("DEFAULT") {
                rest = rest.dropFirst("DEFAULT".count)
                rules.append(.default)
            } else if rest.hasPrefix("RULE:") {
                rest = rest.dropFirst("RULE:".count)
                guard let pattern = takeUntilSlash(&rest), let replacement = takeUntilSlash(&rest) else {
                    throw ParseError.invalidRule(String(text))
                }
                var conversion: CaseConversion?
                if let first = rest.first, let c = CaseConversion(rawValue: String(first)) {
                    conversion = c
                    rest = rest.dropFirst()
                }
                rules.append(.rule(pattern: pattern, replacement: replacement, caseConversion: conversion))
            } else {
                let entry = rest.prefix { $0 != "," && $0 != "\n" }
                throw ParseError.invalidRule(String(entry))
            }
            skipSpace()
            if rest.isEmpty { break }
            guard rest.first == "," || rest.first == "\n" else {
                throw ParseError.invalidRule(String(rest.prefix { $0 != "," && $0 != "\n" }))
            }
            rest = rest.dropFirst()
        }
        return rules
    }

    /// Reads up to the next unescaped "/" and consumes it; `\/` becomes "/", other escapes stay.
    private static func takeUntilSlash(_ rest: inout Substring) -> String? {
        var out = ""
        var index = rest.startIndex
        while index < rest.endIndex {
            let c = rest[index]
            if c == "\\" {
                let next = rest.index(after: index)
                guard next < rest.endIndex else { return nil }
                if rest[next] == "/" { out.append("/") } else { out.append(c); out.append(rest[next]) }
                index = rest.index(after: next)
                continue
            }
            if c == "/" {
                rest = rest[rest.index(after: index)...]
                return out
            }
            out.append(c)
            index = rest.index(after: index)
        }
        return nil
    }
}
