import Foundation

/// A SCRAM mechanism Kafka supports (RFC 5802 / RFC 7677). `kafkaType` is the int8 the
/// Describe/AlterUserScramCredentials APIs carry.
public enum ScramMechanism: String, Sendable, Hashable, CaseIterable, Codable {
    case sha256 = "SCRAM-SHA-256"
    case sha512 = "SCRAM-SHA-512"

    /// The SASL mechanism name.
    public var mechanismName: String { rawValue }

    public var hash: HashFunction {
        switch self {
        case .sha256: .sha256
        case .sha512: .sha512
        }
    }

    /// Kafka's ScramMechanism type code: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512 (0 = unknown).
    public var kafkaType: Int8 {
        switch self {
        case .sha256: 1
        case .sha512: 2
        }
    }

    public init?(kafkaType: Int8) {
        switch kafkaType {
        case 1: self = .sha256
        case 2: self = .sha512
        default: return nil
        }
    }

    /// Kafka's bounds for iteration counts: at least 4096 (RFC 7677 minimum), at most 16384.
    public static let minIterations = 4096
    public static let maxIterations = 16384
}

/// What the server keeps for a SCRAM user: never the password, only the salt, the iteration
/// count and the two derived keys (RFC 5802 section 3).
public struct ScramCredential: Sendable, Equatable, Codable, CustomStringConvertible {
    public var salt: [UInt8]
    public var iterations: Int
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    public init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    /// From the salted password (Hi(password, salt, i)) the client computed, as
    /// AlterUserScramCredentials carries it.
    public init(mechanism: ScramMechanism, salt: [UInt8], iterations: Int, saltedPassword: [UInt8]) {
        let keys = ScramKeys(hash: mechanism.hash, saltedPassword: saltedPassword)
        self.init(salt: salt, iterations: iterations, storedKey: keys.storedKey, serverKey: keys.serverKey)
    }

    /// From a password (tools and tests); a random 32-byte salt when none is given.
    public init(
        mechanism: ScramMechanism, password: Secret, salt: [UInt8]? = nil,
        iterations: Int = ScramMechanism.minIterations
    ) {
        let salt = salt ?? Crypto.randomBytes(32)
        let salted = Crypto.pbkdf2(
            mechanism.hash, password: Array(password.reveal().utf8), salt: salt, iterations: iterations)
        self.init(mechanism: mechanism, salt: salt, iterations: iterations, saltedPassword: salted)
    }

    public var description: String { "ScramCredential(iterations: \(iterations), keys redacted)" }

    enum CodingKeys: String, CodingKey { case salt, iterations, storedKey, serverKey }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func bytes(_ key: CodingKeys) throws -> [UInt8] {
            let s = try c.decode(String.self, forKey: key)
            guard let b = [UInt8](base64: s) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not base64")
            }
            return b
        }
        self.salt = try bytes(.salt)
        self.iterations = try c.decode(Int.self, forKey: .iterations)
        self.storedKey = try bytes(.storedKey)
        self.serverKey = try bytes(.serverKey)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(salt.base64, forKey: .salt)
        try c.encode(iterations, forKey: .iterations)
        try c.encode(storedKey.base64, forKey: .storedKey)
        try c.encode(serverKey.base64, forKey: .serverKey)
    }
}

/// RFC 5802 key derivations from a salted password.
public struct ScramKeys: Sendable {
    public var clientKey: [UInt8]
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    public init(hash: HashFunction, saltedPassword: [UInt8]) {
        clientKey = Crypto.hmac(hash, key: saltedPassword, Array("Client Key".utf8))
        storedKey = Crypto.hash(hash, clientKey)
        serverKey = Crypto.hmac(hash, key: saltedPassword, Array("Server Key".utf8))
    }
}

/// SCRAM `saslname` escaping: `,` is sent as `=2C` and `=` as `=3D`.
public enum ScramName {
    public static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
    }

    /// Nil when an `=` is not followed by `2C` or `3D`.
    public static func unescape(_ value: Substring) -> String? {
        var out = ""
        var i = value.startIndex
        while i < value.endIndex {
            let ch = value[i]
            if ch == "=" {
                let rest = value[i...]
                if rest.hasPrefix("=2C") {
                    out.append(",")
                } else if rest.hasPrefix("=3D") {
                    out.append("=")
                } else {
                    return nil
                }
                i = value.index(i, offsetBy: 3)
            } else {
                out.append(ch)
                i = value.index(after: i)
            }
        }
        return out
    }
}
