import Foundation
import KafkaProtocol

/// One (mechanism, iterations) pair DescribeUserScramCredentials reports per user.
public struct ScramCredentialInfo: Sendable, Equatable {
    public var mechanism: ScramMechanism
    public var iterations: Int
}

/// Per-user result of Describe/AlterUserScramCredentials (Kafka semantics: one result per user,
/// the first error for that user wins).
public struct ScramUserResult: Sendable, Equatable {
    public var user: String
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    /// Describe only.
    public var credentials: [ScramCredentialInfo]
}

/// One deletion of AlterUserScramCredentials.
public struct ScramDeletion: Sendable, Equatable {
    public var user: String
    /// The raw int8 so that unknown mechanisms can be answered with UNSUPPORTED_SASL_MECHANISM.
    public var mechanism: Int8
    public init(user: String, mechanism: Int8) {
        self.user = user
        self.mechanism = mechanism
    }
}

/// One upsertion of AlterUserScramCredentials: the client has already computed
/// SaltedPassword = Hi(password, salt, iterations).
public struct ScramUpsertion: Sendable, Equatable {
    public var user: String
    public var mechanism: Int8
    public var iterations: Int32
    public var salt: [UInt8]
    public var saltedPassword: [UInt8]
    public init(user: String, mechanism: Int8, iterations: Int32, salt: [UInt8], saltedPassword: [UInt8]) {
        self.user = user
        self.mechanism = mechanism
        self.iterations = iterations
        self.salt = salt
        self.saltedPassword = saltedPassword
    }
}

/// Where SCRAM credentials live. Implementations are thread-safe.
public protocol ScramCredentialStore: Sendable {
    func credential(user: String, mechanism: ScramMechanism) -> ScramCredential?
    /// Inserts or replaces one credential (persisted before it returns).
    func upsert(user: String, mechanism: ScramMechanism, credential: ScramCredential) throws
    /// Removes one credential; false when there was none.
    @discardableResult
    func delete(user: String, mechanism: ScramMechanism) throws -> Bool
    /// Every user with at least one credential, and what they have (no keys).
    func allCredentials() -> [String: [ScramCredentialInfo]]
}

extension ScramCredentialStore {
    /// DescribeUserScramCredentials: nil or empty `users` describes everyone with credentials.
    public func describe(users: [String]?) -> [ScramUserResult] {
        let all = allCredentials()
        guard let users, !users.isEmpty else {
            return all.keys.sorted().map {
                ScramUserResult(user: $0, errorCode: .none, errorMessage: nil, credentials: all[$0]!)
            }
        }
        var counts: [String: Int] = [:]
        for u in users { counts[u, default: 0] += 1 }
        var seen = Set<String>()
        var out: [ScramUserResult] = []
        for u in users where seen.insert(u).inserted {
            if counts[u]! > 1 {
                out.append(
                    .init(
                        user: u, errorCode: .duplicateResource,
                        errorMessage: "Cannot describe SCRAM credentials for the same user twice in a single request",
                        credentials: []))
            } else if let creds = all[u] {
                out.append(.init(user: u, errorCode: .none, errorMessage: nil, credentials: creds))
            } else {
                out.append(
                    .init(
                        user: u, errorCode: .resourceNotFound,
                        errorMessage: "Attempt to describe a user credential that does not exist", credentials: []))
            }
        }
        return out
    }

    /// AlterUserScramCredentials with Kafka's validation: an empty user name or an iteration count
    /// outside 4096...16384 is UNACCEPTABLE_CREDENTIAL, an unknown mechanism
    /// UNSUPPORTED_SASL_MECHANISM, the same (user, mechanism) twice DUPLICATE_RESOURCE, deleting
    /// a missing credential RESOURCE_NOT_FOUND. A user with any error has none of its changes applied.
    public func alter(deletions: [ScramDeletion], upsertions: [ScramUpsertion]) -> [ScramUserResult] {
        var order: [String] = []
        var errors: [String: (KafkaErrorCode, String)] = [:]
        func fail(_ user: String, _ code: KafkaErrorCode, _ message: String) {
            if errors[user] == nil { errors[user] = (code, message) }
        }
        var pairs: [String: Int] = [:]
        for d in deletions { order.append(d.user); pairs["\(d.mechanism)/\(d.user)", default: 0] += 1 }
        for u in upsertions { order.append(u.user); pairs["\(u.mechanism)/\(u.user)", default: 0] += 1 }
        for d in deletions {
            if d.user.isEmpty { fail(d.user, .unacceptableCredential, "Username must not be empty") }
            if pairs["\(d.mechanism)/\(d.user)"]! > 1 {
                fail(d.user, .duplicateResource, "A user credential cannot be altered twice in the same request")
            }
            guard let m = ScramMechanism(kafkaType: d.mechanism) else {
                fail(d.user, .unsupportedSaslMechanism, "Unknown SCRAM mechanism")
                continue
            }
            if credential(user: d.user, mechanism: m) == nil {
                fail(d.user, .resourceNotFound, "Attempt to delete a user credential that does not exist")
            }
        }
        for u in upsertions {
            if u.user.isEmpty { fail(u.user, .unacceptableCredential, "Username must not be empty") }
            if pairs["\(u.mechanism)/\(u.user)"]! > 1 {
                fail(u.user, .duplicateResource, "A user credential cannot be altered twice in the same request")
            }
            if ScramMechanism(kafkaType: u.mechanism) == nil {
                fail(u.user, .unsupportedSaslMechanism, "Unknown SCRAM mechanism")
            }
            if Int(u.iterations) < ScramMechanism.minIterations {
                fail(u.user, .unacceptableCredential, "Too few iterations")
            } else if Int(u.iterations) > ScramMechanism.maxIterations {
                fail(u.user, .unacceptableCredential, "Too many iterations")
            }
            if u.salt.isEmpty || u.saltedPassword.isEmpty {
                fail(u.user, .unacceptableCredential, "Salt and salted password must not be empty")
            }
        }
        for d in deletions where errors[d.user] == nil {
            do { try delete(user: d.user, mechanism: ScramMechanism(kafkaType: d.mechanism)!) } catch {
                fail(d.user, .unacceptableCredential, "Could not persist: \(error)")
            }
        }
        for u in upsertions where errors[u.user] == nil {
            let m = ScramMechanism(kafkaType: u.mechanism)!
            let cred = ScramCredential(
                mechanism: m, salt: u.salt, iterations: Int(u.iterations), saltedPassword: u.saltedPassword)
            do { try upsert(user: u.user, mechanism: m, credential: cred) } catch {
                fail(u.user, .unacceptableCredential, "Could not persist: \(error)")
            }
        }
        var seen = Set<String>()
        return order.filter { seen.insert($0).inserted }.map { user in
            let e = errors[user]
            return ScramUserResult(user: user, errorCode: e?.0 ?? .none, errorMessage: e?.1, credentials: [])
        }
    }
}

/// SCRAM credentials as one JSON file (written atomically); `url == nil` keeps them in memory.
public final class FileScramCredentialStore: ScramCredentialStore, @unchecked Sendable {
    struct FileFormat: Codable {
        var version: Int
        var users: [String: [String: ScramCredential]]
    }

    private let url: URL?
    private let lock = NSLock()
    private var users: [String: [ScramMechanism: ScramCredential]]

    /// Opens (or starts) the store at `url`, e.g. `<data dir>/security/scram-credentials.json`.
    public init(url: URL?) throws {
        self.url = url
        self.users = [:]
        guard let url, let data = try StoreFile.read(url) else { return }
        let file: FileFormat
        do { file = try JSONDecoder().decode(FileFormat.self, from: data) } catch {
            throw SecurityStoreError.corrupt("\(url.path): \(error)")
        }
        for (user, creds) in file.users {
            for (name, cred) in creds {
                guard let m = ScramMechanism(rawValue: name) else {
                    throw SecurityStoreError.corrupt("\(url.path): unknown mechanism \(name)")
                }
                users[user, default: [:]][m] = cred
            }
        }
    }

    /// An in-memory store (tests, brokers without a data dir).
    public static func inMemory() -> FileScramCredentialStore { try! FileScramCredentialStore(url: nil) }

    public func credential(user: String, mechanism: ScramMechanism) -> ScramCredential? {
        lock.withLock { users[user]?[mechanism] }
    }

    public func upsert(user: String, mechanism: ScramMechanism, credential: ScramCredential) throws {
        try lock.withLock {
            var next = users
            next[user, default: [:]][mechanism] = credential
            try persist(next)
            users = next
        }
    }

    @discardableResult
    public func delete(user: String, mechanism: ScramMechanism) throws -> Bool {
        try lock.withLock {
            guard users[user]?[mechanism] != nil else { return false }
            var next = users
            next[user]![mechanism] = nil
            if next[user]!.isEmpty { next[user] = nil }
            try persist(next)
            users = next
            return true
        }
    }

    public func allCredentials() -> [String: [ScramCredentialInfo]] {
        lock.withLock {
            users.mapValues { creds in
                ScramMechanism.allCases.compactMap { m in
                    creds[m].map { ScramCredentialInfo(mechanism: m, iterations: $0.iterations) }
                }
            }
        }
    }

    private func persist(_ state: [String: [ScramMechanism: ScramCredential]]) throws {
        guard let url else { return }
        let file = FileFormat(
            version: 1,
            users: state.mapValues { creds in
                Dictionary(uniqueKeysWithValues: creds.map { ($0.key.rawValue, $0.value) })
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try StoreFile.write(try encoder.encode(file), to: url)
    }
}

/// Users allowed to log in with SASL/PLAIN. Keeps PBKDF2-HMAC-SHA512(password, salt, iterations)
/// and a random salt per user, never the password; one JSON file written atomically
/// (`url == nil`: in memory).
public final class PlainCredentialStore: @unchecked Sendable {
    public struct Entry: Codable, Sendable, Equatable {
        public var algorithm: String
        public var salt: String
        public var iterations: Int
        public var hash: String
    }

    struct FileFormat: Codable {
        var version: Int
        var users: [String: Entry]
    }

    public static let algorithm = "PBKDF2-HMAC-SHA512"
    private let url: URL?
    private let lock = NSLock()
    private var users: [String: Entry] = [:]
    private let dummySalt = Crypto.randomBytes(32)

    public init(url: URL?) throws {
        self.url = url
        guard let url, let data = try StoreFile.read(url) else { return }
        do { users = try JSONDecoder().decode(FileFormat.self, from: data).users } catch {
            throw SecurityStoreError.corrupt("\(url.path): \(error)")
        }
        for (user, e) in users
        where e.algorithm != Self.algorithm || [UInt8](base64: e.salt) == nil || [UInt8](base64: e.hash) == nil
            || e.iterations < 1
        {
            throw SecurityStoreError.corrupt("\(url.path): bad entry for \(user)")
        }
    }

    public static func inMemory() -> PlainCredentialStore { try! PlainCredentialStore(url: nil) }

    public var userNames: [String] { lock.withLock { users.keys.sorted() } }

    /// Adds or replaces a user.
    public func setPassword(user: String, password: Secret, iterations: Int = 4096) throws {
        precondition(iterations >= 1)
        let salt = Crypto.randomBytes(32)
        let hash = Crypto.pbkdf2(.sha512, password: Array(password.reveal().utf8), salt: salt, iterations: iterations)
        let entry = Entry(algorithm: Self.algorithm, salt: salt.base64, iterations: iterations, hash: hash.base64)
        try lock.withLock {
            var next = users
            next[user] = entry
            try persist(next)
            users = next
        }
    }

    @discardableResult
    public func remove(user: String) throws -> Bool {
        try lock.withLock {
            guard users[user] != nil else { return false }
            var next = users
            next[user] = nil
            try persist(next)
            users = next
            return true
        }
    }

    /// Whether `password` is the user's. Unknown users cost the same PBKDF2 as known ones.
    public func verify(user: String, password: [UInt8]) -> Bool {
        let entry = lock.withLock { users[user] }
        guard let entry, let salt = [UInt8](base64: entry.salt), let expected = [UInt8](base64: entry.hash) else {
            _ = Crypto.pbkdf2(.sha512, password: password, salt: dummySalt, iterations: 4096)
            return false
        }
        let actual = Crypto.pbkdf2(.sha512, password: password, salt: salt, iterations: entry.iterations)
        return Crypto.constantTimeEquals(actual, expected)
    }

    private func persist(_ state: [String: Entry]) throws {
        guard let url else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try StoreFile.write(try encoder.encode(FileFormat(version: 1, users: state)), to: url)
    }
}
