import Foundation
import KafkaProtocol

/// An authenticated identity, Kafka style: `User:alice`.
public struct KafkaPrincipal: Sendable, Hashable, Codable, CustomStringConvertible {
    public var type: String
    public var name: String

    public init(type: String = "User", name: String) {
        self.type = type
        self.name = name
    }

    public static func user(_ name: String) -> KafkaPrincipal { KafkaPrincipal(type: "User", name: name) }
    public static let anonymous = KafkaPrincipal(type: "User", name: "ANONYMOUS")

    /// Parses `Type:name` (the name may itself contain `:`); nil without a type.
    public init?(parsing string: String) {
        guard let colon = string.firstIndex(of: ":"), colon != string.startIndex else { return nil }
        self.init(type: String(string[..<colon]), name: String(string[string.index(after: colon)...]))
    }

    public var description: String { "\(type):\(name)" }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let p = KafkaPrincipal(parsing: s) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "bad principal \(s)"))
        }
        self = p
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The SASL mechanisms the broker can enable.
public enum SaslMechanism: String, Sendable, Hashable, CaseIterable {
    case plain = "PLAIN"
    case scramSha256 = "SCRAM-SHA-256"
    case scramSha512 = "SCRAM-SHA-512"

    var scram: ScramMechanism? {
        switch self {
        case .plain: nil
        case .scramSha256: .sha256
        case .scramSha512: .sha512
        }
    }
}

extension ScramMechanism {
    var saslMechanism: SaslMechanism {
        switch self {
        case .sha256: .scramSha256
        case .sha512: .scramSha512
        }
    }
}

/// What a SASL session checks credentials against.
public struct SaslServerConfiguration: Sendable {
    /// Advertised in this order in SaslHandshake responses.
    public var enabledMechanisms: [SaslMechanism]
    public var scramCredentials: (any ScramCredentialStore)?
    public var plainCredentials: PlainCredentialStore?
    /// The server's half of the SCRAM nonce: printable ASCII without `,`. Injected for tests.
    public var makeServerNonce: @Sendable () -> String

    public init(
        enabledMechanisms: [SaslMechanism],
        scramCredentials: (any ScramCredentialStore)? = nil,
        plainCredentials: PlainCredentialStore? = nil,
        makeServerNonce: @escaping @Sendable () -> String = SaslServerConfiguration.randomNonce
    ) {
        self.enabledMechanisms = enabledMechanisms
        self.scramCredentials = scramCredentials
        self.plainCredentials = plainCredentials
        self.makeServerNonce = makeServerNonce
    }

    public var enabledMechanismNames: [String] { enabledMechanisms.map(\.rawValue) }

    /// 24 random bytes, base64 (never contains `,`).
    @Sendable public static func randomNonce() -> String { Data(Crypto.randomBytes(24)).base64EncodedString() }
}

/// A failed SASL step: the Kafka error code (SASL_AUTHENTICATION_FAILED 58, ILLEGAL_SASL_STATE 34,
/// UNSUPPORTED_SASL_MECHANISM 33) and the message to put in the response.
public struct SaslError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: KafkaErrorCode
    public var message: String

    public init(_ code: KafkaErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    static func failed(_ message: String) -> SaslError { SaslError(.saslAuthenticationFailed, message) }
    public var description: String { "\(code) (\(code.rawValue)): \(message)" }
}

/// Answer to a SaslHandshake.
public enum SaslHandshakeResult: Sendable, Equatable {
    /// Error 0; `enabledMechanisms` go in the response.
    case accepted(SaslMechanism, enabledMechanisms: [String])
    /// UNSUPPORTED_SASL_MECHANISM (33), or ILLEGAL_SASL_STATE (34) mid-exchange.
    case rejected(SaslError, enabledMechanisms: [String])
}

/// Answer to a SaslAuthenticate.
public enum SaslAuthenticateResult: Sendable, Equatable {
    /// Send these bytes back with error 0 and expect another SaslAuthenticate.
    case challenge([UInt8])
    /// Authenticated; send `finalBytes` (SCRAM server-final, empty for PLAIN) with error 0.
    case success(KafkaPrincipal, finalBytes: [UInt8])
    /// Send the error code and message; the connection should be closed after the response.
    case failure(SaslError)
}

/// What a completed SASL exchange established.
public struct SaslSession: Sendable, Equatable {
    public var principal: KafkaPrincipal
    public var mechanism: SaslMechanism

    public init(principal: KafkaPrincipal, mechanism: SaslMechanism) {
        self.principal = principal
        self.mechanism = mechanism
    }
}

/// The broker side of one connection's SASL exchange, sans I/O: feed it the handshake and each
/// SaslAuthenticate's bytes, perform the action it returns.
///
/// ```
/// awaitingHandshake --handshake(ok)--> awaitingInitial(mech)
/// awaitingInitial(PLAIN) --authzid\0user\0pass--> authenticated | failed
/// awaitingInitial(SCRAM) --client-first--> awaitingClientFinal --client-final--> authenticated | failed
/// authenticated --handshake--> awaitingInitial(mech, previous) (KIP-368 re-authentication)
/// ```
/// A re-authentication must use the mechanism of the session it renews and must prove the same
/// principal; otherwise it fails like a wrong password (Kafka's rules). Whether and when the
/// broker allows one (session lifetime, at most one per second) is the caller's business.
/// SCRAM follows RFC 5802/7677 without channel binding (`n` or `y` gs2 flag only). User names
/// are restricted to printable ASCII ("SASLprep-lite": no SASLprep normalisation is done, and
/// anything that would need it is refused). Unknown SCRAM users get a fake salt and fail at the
/// proof step like a wrong password, so the exchange does not reveal which users exist.
public struct SaslServerSession: Sendable {
    enum State: Sendable {
        case awaitingHandshake
        /// `previous`: the session being renewed (re-authentication).
        case awaitingInitial(SaslMechanism, previous: SaslSession?)
        case awaitingClientFinal(ScramExchange)
        case authenticated(SaslSession)
        case failed
    }

    struct ScramExchange: Sendable {
        var previous: SaslSession?
        var mechanism: ScramMechanism
        var user: String
        /// Nil for an unknown user: the exchange continues with a fake salt and always fails.
        var credential: ScramCredential?
        var gs2Header: String
        var clientFirstBare: String
        var serverFirst: String
        var nonce: String
    }

    public let configuration: SaslServerConfiguration
    var state: State = .awaitingHandshake
    /// The user name the client gave in the current (or last) exchange, once it has given one;
    /// for audit lines about failures. Never the password.
    public private(set) var claimedUser: String?

    /// Messages larger than this are refused (a SASL token is a few hundred bytes).
    public static let maxTokenSize = 16 * 1024

    public init(configuration: SaslServerConfiguration) {
        self.configuration = configuration
    }

    /// The principal once authentication succeeded.
    public var principal: KafkaPrincipal? { session?.principal }

    /// The established session (principal and mechanism), between exchanges.
    public var session: SaslSession? {
        switch state {
        case let .authenticated(session): session
        case .awaitingHandshake, .awaitingInitial, .awaitingClientFinal, .failed: nil
        }
    }

    /// The mechanism of the exchange in progress, or of the established session.
    public var mechanism: SaslMechanism? {
        switch state {
        case let .awaitingInitial(mech, _): mech
        case let .awaitingClientFinal(exchange): exchange.mechanism.saslMechanism
        case let .authenticated(session): session.mechanism
        case .awaitingHandshake, .failed: nil
        }
    }

    /// A handshake was accepted and the exchange it started has not finished.
    public var exchangeInProgress: Bool {
        switch state {
        case .awaitingInitial, .awaitingClientFinal: true
        case .awaitingHandshake, .authenticated, .failed: false
        }
    }

    /// The exchange in progress renews an established session (KIP-368).
    public var isReauthenticating: Bool {
        switch state {
        case let .awaitingInitial(_, previous): previous != nil
        case let .awaitingClientFinal(exchange): exchange.previous != nil
        case .awaitingHandshake, .authenticated, .failed: false
        }
    }

    public mutating func handshake(mechanism name: String) -> SaslHandshakeResult {
        let enabled = configuration.enabledMechanismNames
        switch state {
        case .awaitingHandshake, .authenticated:
            guard let mech = SaslMechanism(rawValue: name), configuration.enabledMechanisms.contains(mech) else {
                // The client may retry with another mechanism, so the state does not change.
                return .rejected(
                    SaslError(.unsupportedSaslMechanism, "Unsupported SASL mechanism \(name)"),
                    enabledMechanisms: enabled)
            }
            // A re-authentication with another (enabled) mechanism is accepted here and refused at
            // its first token, as Kafka does, so the client gets the reason in a SaslAuthenticate.
            state = .awaitingInitial(mech, previous: session)
            claimedUser = nil
            return .accepted(mech, enabledMechanisms: enabled)
        case .awaitingInitial, .awaitingClientFinal, .failed:
            state = .failed
            return .rejected(
                SaslError(.illegalSaslState, "Unexpected SaslHandshake request in the middle of an exchange"),
                enabledMechanisms: enabled)
        }
    }

    public mutating func authenticate(_ bytes: [UInt8]) -> SaslAuthenticateResult {
        switch state {
        case .awaitingHandshake, .authenticated, .failed:
            state = .failed
            return .failure(
                SaslError(.illegalSaslState, "Unexpected SaslAuthenticate request: no SASL exchange in progress"))
        case let .awaitingInitial(mech, previous):
            if let previous, previous.mechanism != mech {
                return fail(
                    "SASL mechanism '\(mech.rawValue)' requested by client is not supported for re-authentication of mechanism '\(previous.mechanism.rawValue)'"
                )
            }
            guard bytes.count <= Self.maxTokenSize else { return fail("SASL token too large") }
            switch mech {
            case .plain:
                return plain(bytes, previous: previous)
            case .scramSha256, .scramSha512:
                return scramClientFirst(bytes, mechanism: mech.scram!, previous: previous)
            }
        case let .awaitingClientFinal(exchange):
            guard bytes.count <= Self.maxTokenSize else { return fail("SASL token too large") }
            return scramClientFinal(bytes, exchange)
        }
    }

    private mutating func fail(_ message: String) -> SaslAuthenticateResult {
        state = .failed
        return .failure(.failed(message))
    }

    /// The exchange proved `principal`; a re-authentication must prove the principal it renews.
    private mutating func succeed(
        _ principal: KafkaPrincipal, _ mechanism: SaslMechanism, previous: SaslSession?,
        finalBytes: [UInt8]
    ) -> SaslAuthenticateResult {
        if let previous, previous.principal != principal {
            return fail("Cannot change principals during re-authentication from \(previous.principal) to \(principal)")
        }
        state = .authenticated(SaslSession(principal: principal, mechanism: mechanism))
        return .success(principal, finalBytes: finalBytes)
    }

    // MARK: PLAIN (RFC 4616)

    private mutating func plain(_ bytes: [UInt8], previous: SaslSession?) -> SaslAuthenticateResult {
        let parts = bytes.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            return fail("Invalid SASL/PLAIN message: expected authzid NUL username NUL password")
        }
        guard let authzid = String(validating: parts[0], as: UTF8.self),
            let user = String(validating: parts[1], as: UTF8.self)
        else {
            return fail("Invalid SASL/PLAIN message: names are not UTF-8")
        }
        let password = Array(parts[2])
        guard !user.isEmpty else { return fail("Authentication failed: username not specified") }
        claimedUser = user
        guard !password.isEmpty else { return fail("Authentication failed: password not specified") }
        guard authzid.isEmpty || authzid == user else {
            return fail("Authentication failed: client requested an authorization id that is different from username")
        }
        guard let store = configuration.plainCredentials, store.verify(user: user, password: password) else {
            return fail("Authentication failed: Invalid username or password")
        }
        return succeed(.user(user), .plain, previous: previous, finalBytes: [])
    }

    // MARK: SCRAM (RFC 5802)

    private mutating func scramClientFirst(_ bytes: [UInt8], mechanism: ScramMechanism, previous: SaslSession?)
        -> SaslAuthenticateResult
    {
        guard let message = String(validating: bytes, as: UTF8.self) else {
            return fail("Invalid SCRAM client-first message: not UTF-8")
        }
        let parsed: ClientFirst
        switch ClientFirst.parse(message) {
        case let .success(p): parsed = p
        case let .failure(e): return fail("Invalid SCRAM client-first message: \(e.message)")
        }
        claimedUser = parsed.user
        let credential = configuration.scramCredentials?.credential(user: parsed.user, mechanism: mechanism)
        let salt = credential?.salt ?? Self.fakeSalt(user: parsed.user, mechanism: mechanism)
        let iterations = credential?.iterations ?? ScramMechanism.minIterations
        let serverNonce = configuration.makeServerNonce()
        guard !serverNonce.isEmpty, serverNonce.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E && $0 != UInt8(ascii: ",") })
        else {
            preconditionFailure("server nonce must be printable ASCII without ','")
        }
        let nonce = parsed.nonce + serverNonce
        let serverFirst = "r=\(nonce),s=\(salt.base64),i=\(iterations)"
        state = .awaitingClientFinal(
            ScramExchange(
                previous: previous, mechanism: mechanism, user: parsed.user, credential: credential,
                gs2Header: parsed.gs2Header, clientFirstBare: parsed.bare,
                serverFirst: serverFirst, nonce: nonce))
        return .challenge(Array(serverFirst.utf8))
    }

    private mutating func scramClientFinal(_ bytes: [UInt8], _ ex: ScramExchange) -> SaslAuthenticateResult {
        guard let message = String(validating: bytes, as: UTF8.self) else {
            return fail("Invalid SCRAM client-final message: not UTF-8")
        }
        guard let proofRange = message.range(of: ",p=", options: .backwards) else {
            return fail("Invalid SCRAM client-final message: missing proof")
        }
        let withoutProof = String(message[..<proofRange.lowerBound])
        let proofText = message[proofRange.upperBound...]
        let attrs = withoutProof.split(separator: ",", omittingEmptySubsequences: false)
        guard attrs.count >= 2, attrs[0].hasPrefix("c="), attrs[1].hasPrefix("r=") else {
            return fail("Invalid SCRAM client-final message: expected c=...,r=...,p=...")
        }
        guard let binding = [UInt8](base64: attrs[0].dropFirst(2)), binding == Array(ex.gs2Header.utf8) else {
            return fail("Invalid SCRAM client-final message: channel binding does not match the client-first header")
        }
        // The nonce must end with the one we sent (client + server halves). Kafka checks the
        // suffix, not equality: librdkafka sends its own half again in front of it.
        guard attrs[1].dropFirst(2).hasSuffix(ex.nonce) else {
            return fail("Authentication failed: nonce mismatch")
        }
        let hash = ex.mechanism.hash
        guard let proof = [UInt8](base64: proofText), proof.count == hash.outputLength else {
            return fail("Invalid SCRAM client-final message: malformed proof")
        }
        let authMessage = Array("\(ex.clientFirstBare),\(ex.serverFirst),\(withoutProof)".utf8)
        guard let credential = ex.credential else {
            return fail("Authentication failed: Invalid user credentials")
        }
        let clientSignature = Crypto.hmac(hash, key: credential.storedKey, authMessage)
        let clientKey = Crypto.xor(proof, clientSignature)
        guard Crypto.constantTimeEquals(Crypto.hash(hash, clientKey), credential.storedKey) else {
            return fail("Authentication failed: Invalid user credentials")
        }
        let serverSignature = Crypto.hmac(hash, key: credential.serverKey, authMessage)
        return succeed(
            .user(ex.user), ex.mechanism.saslMechanism, previous: ex.previous,
            finalBytes: Array("v=\(serverSignature.base64)".utf8))
    }

    /// A per-process key so that fake salts are stable per user (a prober sees the same salt twice).
    private static let fakeSaltKey: [UInt8] = Crypto.randomBytes(32)

    static func fakeSalt(user: String, mechanism: ScramMechanism) -> [UInt8] {
        Crypto.hmac(.sha256, key: fakeSaltKey, Array("\(mechanism.rawValue)\u{0}\(user)".utf8))
    }
}

/// A parsed SCRAM client-first message.
struct ClientFirst: Equatable {
    var gs2Header: String
    var bare: String
    var user: String
    var nonce: String

    struct ParseError: Error { var message: String }

    static func parse(_ message: String) -> Result<ClientFirst, ParseError> {
        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let parts = message.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.init(message: "truncated GS2 header")) }
        switch parts[0] {
        case "n", "y": break
        default:
            if parts[0].hasPrefix("p=") { return .failure(.init(message: "channel binding is not supported")) }
            return .failure(.init(message: "bad GS2 channel binding flag"))
        }
        var authzid: String?
        if !parts[1].isEmpty {
            guard parts[1].hasPrefix("a="), let a = ScramName.unescape(parts[1].dropFirst(2)) else {
                return .failure(.init(message: "bad authzid"))
            }
            authzid = a
        }
        let bare = String(parts[2])
        let attrs = bare.split(separator: ",", omittingEmptySubsequences: false)
        guard let first = attrs.first, !first.hasPrefix("m=") else {
            return .failure(.init(message: "mandatory extensions are not supported"))
        }
        guard first.hasPrefix("n=") else { return .failure(.init(message: "missing user name")) }
        guard let user = ScramName.unescape(first.dropFirst(2)) else {
            return .failure(.init(message: "bad escaping in user name"))
        }
        guard !user.isEmpty else { return .failure(.init(message: "empty user name")) }
        guard user.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value <= 0x7E }) else {
            return .failure(.init(message: "user names must be printable ASCII"))
        }
        guard attrs.count >= 2, attrs[1].hasPrefix("r=") else { return .failure(.init(message: "missing nonce")) }
        let nonce = String(attrs[1].dropFirst(2))
        guard !nonce.isEmpty, nonce.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            return .failure(.init(message: "nonce must be non-empty printable ASCII"))
        }
        for ext in attrs.dropFirst(2) {
            guard let eq = ext.firstIndex(of: "="), eq != ext.startIndex else {
                return .failure(.init(message: "malformed extension"))
            }
            if ext[..<eq] == "tokenauth" {
                return .failure(.init(message: "delegation token authentication is not supported"))
            }
        }
        if let authzid, authzid != user {
            return .failure(.init(message: "authorization id \(authzid) differs from user name"))
        }
        return .success(ClientFirst(gs2Header: "\(parts[0]),\(parts[1]),", bare: bare, user: user, nonce: nonce))
    }
}
