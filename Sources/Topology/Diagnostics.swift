import Yams

/// One problem in a topology file, at a position, with what to do about it.
public struct TopologyDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// Every problem found in a topology file (never only the first).
public struct TopologyError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [TopologyDiagnostic]

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Collects diagnostics while a file is read and checked.
struct DiagnosticCollector {
    let file: String
    var diagnostics: [TopologyDiagnostic] = []

    mutating func report(_ node: Node?, _ message: String) {
        diagnostics.append(
            TopologyDiagnostic(
                file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, message: message))
    }
}

/// The closest candidate by edit distance, when close enough to be a likely typo.
public func nearestName(to word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in 1...b.count {
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
