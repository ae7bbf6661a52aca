/// A broker's network address.
public struct BrokerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses "host:port", "[v6-address]:port", or a bare host (then `defaultPort`).
    public init(parsing text: String, defaultPort: Int = 9092) throws {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw KafkaClientError.invalidBootstrap("empty broker address") }
        var host = trimmed
        var portText: Substring?
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else {
                throw KafkaClientError.invalidBootstrap("'\(text)': missing ']' after an IPv6 address")
            }
            host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            let rest = trimmed[trimmed.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw KafkaClientError.invalidBootstrap("'\(text)': expected ':PORT' after ']'")
                }
                portText = rest.dropFirst()
            }
        } else if let colon = trimmed.lastIndex(of: ":") {
            guard trimmed.firstIndex(of: ":") == colon else {
                throw KafkaClientError.invalidBootstrap("'\(text)': write IPv6 addresses as [ADDRESS]:PORT")
            }
            host = String(trimmed[..<colon])
            portText = trimmed[trimmed.index(after: colon)...]
        }
        var port = defaultPort
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw KafkaClientError.invalidBootstrap("'\(text)': port must be a number from 1 to 65535")
            }
            port = parsed
        }
        guard !host.isEmpty else { throw KafkaClientError.invalidBootstrap("'\(text)': missing host") }
        self.init(host: host, port: port)
    }

    /// Parses a comma-separated bootstrap list ("a:9092,b:9092").
    public static func parseList(_ text: String, defaultPort: Int = 9092) throws -> [BrokerAddress] {
        let parts = text.split(separator: ",").map { String($0) }.filter { !$0.trimmingWhitespace().isEmpty }
        guard !parts.isEmpty else { throw KafkaClientError.invalidBootstrap("no bootstrap server given") }
        return try parts.map { try BrokerAddress(parsing: $0, defaultPort: defaultPort) }
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
