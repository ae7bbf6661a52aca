import Foundation
import KafkaProtocol
import Logging
import NIOCore
import Security

/// What one connection has proven about itself. Owned by the connection's request loop (which
/// handles one request at a time), so it needs no lock.
public final class ConnectionSession: @unchecked Sendable {
    /// A SASL listener's connection: until `authenticated`, only ApiVersions, SaslHandshake and
    /// SaslAuthenticate are served. Elsewhere (plaintext, ssl) SaslHandshake and SaslAuthenticate
    /// are refused with ILLEGAL_SASL_STATE, as Kafka does, and change nothing.
    public let requiresSASL: Bool
    /// Shared with the connection's frame decoder: on while raw SASL tokens are expected (after
    /// a SaslHandshake v0).
    public let framing: RequestFraming
    var sasl: SaslServerSession?
    public internal(set) var authenticated: Bool
    /// `User:ANONYMOUS` until SASL (or a client certificate) says otherwise.
    public internal(set) var principal: KafkaPrincipal
    /// When the SASL session ends (ms since the epoch, the broker's clock); nil: never. After
    /// it, anything but SaslHandshake/SaslAuthenticate closes the connection (KIP-368).
    public internal(set) var sessionExpiresAtMs: Int64?
    /// When the last re-authentication began: Kafka allows one per second.
    var lastReauthenticationStartMs: Int64?

    public init(
        requiresSASL: Bool = false, principal: KafkaPrincipal = KafkaPrincipal(name: "ANONYMOUS"),
        framing: RequestFraming = RequestFraming()
    ) {
        self.requiresSASL = requiresSASL
        self.authenticated = !requiresSASL
        self.principal = principal
        self.framing = framing
    }

    /// The principal a client certificate maps to (mutual TLS). SASL, when the listener has it,
    /// replaces it after authentication.
    public func identified(by principal: KafkaPrincipal) {
        self.principal = principal
    }

    /// A SASL exchange that renews the session is under way (between its handshake and its
    /// last token).
    var reauthenticating: Bool { sasl?.isReauthenticating == true }

    func expired(at now: Int64) -> Bool {
        guard let sessionExpiresAtMs else { return false }
        return now >= sessionExpiresAtMs
    }
}

/// KIP-368's session lifetime: the smaller of the listener's `connections-max-reauth-ms` (0: no
/// limit) and the time left on the credential (token mechanisms; nil for passwords), never
/// negative; nil when neither limits the session.
public func saslSessionLifetimeMs(maxReauthMs: Int64, credentialExpiresAtMs: Int64?, now: Int64) -> Int64? {
    let fromConfig: Int64? = maxReauthMs > 0 ? maxReauthMs : nil
    let fromCredential = credentialExpiresAtMs.map { $0 - now }
    switch (fromConfig, fromCredential) {
    case (nil, nil): return nil
    case let (config?, nil): return config
    case let (nil, credential?): return max(0, credential)
    case let (config?, credential?): return max(0, min(config, credential))
    }
}

/// SASL mechanisms and credential stores of a broker. Credentials live in the data directory
/// (`scram-credentials.json`, `plain-credentials.json`: salted and hashed, never passwords).
public struct BrokerAuthentication: Sendable {
    public let scram: any ScramCredentialStore
    public let plain: PlainCredentialStore
    public let mechanisms: [SaslMechanism]

    public init(scram: any ScramCredentialStore, plain: PlainCredentialStore, mechanisms: [SaslMechanism]) {
        self.scram = scram
        self.plain = plain
        self.mechanisms = mechanisms
    }

    /// The stores in `directory` (nil: in memory, for tests).
    public static func open(directory: URL?, mechanisms: [SaslMechanism]) throws -> BrokerAuthentication {
        BrokerAuthentication(
            scram: try FileScramCredentialStore(url: directory?.appendingPathComponent("scram-credentials.json")),
            plain: try PlainCredentialStore(url: directory?.appendingPathComponent("plain-credentials.json")),
            mechanisms: mechanisms)
    }

    var serverConfiguration: SaslServerConfiguration {
        SaslServerConfiguration(enabledMechanisms: mechanisms, scramCredentials: scram, plainCredentials: plain)
    }
}

extension Broker {
    /// Before SASL authentication only these APIs are served on a SASL listener.
    static let preAuthenticationAPIs: Set<APIKey> = [.apiVersions, .saslHandshake, .saslAuthenticate]
    /// Kafka refuses a re-authentication that begins within a second of the previous one.
    static let minReauthenticationIntervalMs: Int64 = 1000

    /// Checks that apply before a request is dispatched: SASL required, session expired, a
    /// request in the middle of a re-authentication. Returns the reason to close, or nil.
    func sessionRefusal(_ key: APIKey, connection: ConnectionContext) -> String? {
        let session = connection.session
        if !session.authenticated && !Self.preAuthenticationAPIs.contains(key) {
            auditAuthenticationFailure(
                connection, api: key.name, detail: "\(key.name) request before SASL authentication")
            return "\(key.name) before SASL authentication on listener \(connection.listenerName)"
        }
        if key == .saslHandshake || key == .saslAuthenticate { return nil }
        let now = now()
        if session.expired(at: now) {
            let expiredFor = now - (session.sessionExpiresAtMs ?? now)
            let detail = "SASL session of \(session.principal) expired \(expiredFor) ms ago without re-authentication"
            auditAuthenticationFailure(
                connection, api: key.name, claimedUser: session.principal.name,
                mechanism: session.sasl?.mechanism?.rawValue, detail: "session expired")
            return
                "\(detail) (connections-max-reauth-ms \(config.connectionsMaxReauthMs(listener: connection.listenerName)) on listener \(connection.listenerName)); \(key.name) refused"
        }
        if session.reauthenticating {
            auditAuthenticationFailure(
                connection, api: key.name, claimedUser: session.principal.name,
                mechanism: session.sasl?.mechanism?.rawValue,
                detail: "\(key.name) request during SASL re-authentication")
            return "unexpected \(key.name) request during SASL re-authentication (ILLEGAL_SASL_STATE)"
        }
        return nil
    }

    /// Returns the response and whether the connection must close after it (a handshake in the
    /// middle of an exchange).
    func saslHandshake(_ request: SaslHandshakeRequest, version: Int16, connection: ConnectionContext) -> (
        SaslHandshakeResponse, close: Bool
    ) {
        let session = connection.session
        guard session.requiresSASL else {
            // As Kafka: only SASL listeners authenticate with SASL. Elsewhere the handshake is
            // answered ILLEGAL_SASL_STATE with no mechanisms; connection and principal stay.
            logger.info(
                "SaslHandshake refused: the listener does not use SASL",
                metadata: [
                    "connection": "\(connection.id)", "remote": "\(connection.remoteAddress)",
                    "listener": "\(connection.listenerName)",
                    "mechanism": "\(request.mechanism.prefix(64))"
                ])
            return (SaslHandshakeResponse(errorCode: .illegalSaslState, mechanisms: []), false)
        }
        let enabled = authentication.mechanisms.map(\.rawValue)
        if session.sasl == nil { session.sasl = SaslServerSession(configuration: authentication.serverConfiguration) }
        if let established = session.sasl?.session {
            // A re-authentication (KIP-368): only when sessions expire, at most once a second.
            let now = now()
            let refusal: String?
            if session.sessionExpiresAtMs == nil {
                refusal = "re-authentication is not enabled (connections-max-reauth-ms is 0)"
            } else if let last = session.lastReauthenticationStartMs, now - last < Self.minReauthenticationIntervalMs {
                refusal = "re-authentication began \(now - last) ms after the previous one (at most one per second)"
            } else {
                refusal = nil
            }
            if let refusal {
                logger.warning(
                    "SaslHandshake refused",
                    metadata: [
                        "connection": "\(connection.id)", "remote": "\(connection.remoteAddress)",
                        "principal": "\(established.principal)", "reason": "\(refusal)"
                    ])
                auditAuthenticationFailure(
                    connection, api: "SaslHandshake", claimedUser: established.principal.name,
                    mechanism: String(request.mechanism.prefix(64)), detail: refusal)
                // As Kafka: an error answer, and the session stays as it was.
                return (SaslHandshakeResponse(errorCode: .illegalSaslState, mechanisms: enabled), false)
            }
            session.lastReauthenticationStartMs = now
            // The re-authentication's tokens get the same cap as the first login's (Kafka's
            // sasl.server.max.receive.size applies to every SASL frame).
            session.framing.capUntilAuthenticated(maxBytes: config.saslMaxReceiveBytes)
        }
        switch session.sasl!.handshake(mechanism: request.mechanism) {
        case let .accepted(_, mechanisms):
            // v0: the exchange continues with raw tokens; the decoder must know before the client
            // can send one, so switch before the response leaves.
            if version == 0 { session.framing.expectsRawSaslTokens = true }
            return (SaslHandshakeResponse(errorCode: 0, mechanisms: mechanisms), false)
        case let .rejected(error, mechanisms):
            auditAuthenticationFailure(
                connection, api: "SaslHandshake", claimedUser: session.sasl?.session?.principal.name,
                mechanism: String(request.mechanism.prefix(64)), detail: String(error.message.prefix(200)))
            // An unsupported mechanism may be retried with another; a handshake in the middle of
            // an exchange ends the connection.
            return (
                SaslHandshakeResponse(errorCode: error.code, mechanisms: mechanisms), error.code == .illegalSaslState
            )
        }
    }

    /// One step of the exchange; on success, `lifetimeMs` is the new session's SessionLifetimeMs
    /// (0: unlimited).
    enum SaslStep {
        case challenge([UInt8])
        case success(finalBytes: [UInt8], lifetimeMs: Int64)
        case failure(SaslError)
    }

    /// Feeds one token to the connection's SASL session and applies the outcome to the
    /// connection: principal, session expiry, logs and audit lines.
    func saslStep(_ token: [UInt8], connection: ConnectionContext, api: String) -> SaslStep {
        let session = connection.session
        guard session.sasl != nil else {
            let error = SaslError(.illegalSaslState, "\(api) before SaslHandshake")
            auditAuthenticationFailure(connection, api: api, detail: error.message)
            return .failure(error)
        }
        let reauthentication = session.sasl!.isReauthenticating
        let mechanism = session.sasl!.mechanism
        switch session.sasl!.authenticate(token) {
        case let .challenge(bytes):
            return .challenge(bytes)
        case let .success(principal, finalBytes):
            let now = now()
            let lifetime = saslSessionLifetimeMs(
                maxReauthMs: config.connectionsMaxReauthMs(listener: connection.listenerName),
                credentialExpiresAtMs: nil, now: now)
            session.principal = principal
            session.authenticated = true
            // Before the answer leaves: the client's next frames may be full-size requests.
            session.framing.authenticated()
            session.sessionExpiresAtMs = lifetime.map { now + $0 }
            var metadata: Logger.Metadata = [
                "connection": "\(connection.id)", "remote": "\(connection.remoteAddress)",
                "principal": "\(principal)", "listener": "\(connection.listenerName)",
                "mechanism": "\(mechanism?.rawValue ?? "?")"
            ]
            if let lifetime { metadata["session-lifetime-ms"] = "\(lifetime)" }
            logger.info(reauthentication ? "re-authenticated" : "authenticated", metadata: metadata)
            return .success(finalBytes: finalBytes, lifetimeMs: lifetime ?? 0)
        case let .failure(error):
            let claimed = session.sasl!.claimedUser
            logger.warning(
                reauthentication ? "SASL re-authentication failed" : "SASL authentication failed",
                metadata: [
                    "connection": "\(connection.id)", "remote": "\(connection.remoteAddress)",
                    "listener": "\(connection.listenerName)",
                    "mechanism": "\(mechanism?.rawValue ?? "?")", "user": "\(claimed ?? "-")",
                    "reason": "\(error.message)"
                ])
            auditAuthenticationFailure(
                connection, api: api, claimedUser: claimed, mechanism: mechanism?.rawValue,
                detail: reauthentication ? "re-authentication: \(error.message)" : error.message)
            return .failure(error)
        }
    }

    /// Returns the response and whether the connection must close after it (a failed exchange).
    func saslAuthenticate(_ request: SaslAuthenticateRequest, connection: ConnectionContext) -> (
        SaslAuthenticateResponse, close: Bool
    ) {
        let session = connection.session
        guard session.requiresSASL, !(session.authenticated && !session.reauthenticating) else {
            // As Kafka on a listener without SASL, or after a login with no re-authentication
            // handshake: an error answer, the connection and its principal stay.
            return (
                SaslAuthenticateResponse(
                    errorCode: .illegalSaslState,
                    errorMessage: "SaslAuthenticate request received after successful authentication",
                    authBytes: [], sessionLifetimeMs: 0), false
            )
        }
        switch saslStep(request.authBytes, connection: connection, api: "SaslAuthenticate") {
        case let .challenge(bytes):
            return (
                SaslAuthenticateResponse(errorCode: 0, errorMessage: nil, authBytes: bytes, sessionLifetimeMs: 0), false
            )
        case let .success(finalBytes, lifetime):
            // v0 drops SessionLifetimeMs from the wire: such clients are closed at expiry.
            return (
                SaslAuthenticateResponse(
                    errorCode: 0, errorMessage: nil, authBytes: finalBytes, sessionLifetimeMs: lifetime), false
            )
        case let .failure(error):
            return (
                SaslAuthenticateResponse(
                    errorCode: error.code, errorMessage: error.message, authBytes: [], sessionLifetimeMs: 0), true
            )
        }
    }

    /// A frame after a SaslHandshake v0: a raw SASL token, answered with a raw length-prefixed
    /// token (empty for PLAIN's success). A failure closes the connection without an answer, as
    /// Kafka does.
    func rawSaslToken(_ frame: ByteBuffer, connection: ConnectionContext) -> RequestOutcome {
        let framing = connection.session.framing
        let token = Array(frame.readableBytesView)
        let reply: [UInt8]
        switch saslStep(token, connection: connection, api: "SaslHandshake v0") {
        case let .challenge(bytes):
            reply = bytes
        case let .success(finalBytes, _):
            framing.expectsRawSaslTokens = false
            reply = finalBytes
        case let .failure(error):
            framing.expectsRawSaslTokens = false
            return .closeConnection(
                reason: "SASL authentication failed (raw SASL tokens after SaslHandshake v0): \(error.message)")
        }
        var buffer = allocator.buffer(capacity: 4 + reply.count)
        buffer.writeInteger(Int32(reply.count))
        buffer.writeBytes(reply)
        return .respond(buffer)
    }

    /// The network layer refused a frame above `sasl-max-receive-bytes` before the connection
    /// authenticated (its body was never read): an `authenticationFailed` audit line.
    public func refusedFrameBeforeAuthentication(_ connection: ConnectionContext, reason: String) {
        auditAuthenticationFailure(connection, api: "(frame not read)", detail: reason)
    }

    /// An `authenticationFailed` audit line (when the audit log is on).
    func auditAuthenticationFailure(
        _ connection: ConnectionContext, api: String, claimedUser: String? = nil,
        mechanism: String? = nil, detail: String
    ) {
        auditLog?.authenticationFailed(
            claimedUser: claimedUser, host: connection.remoteHost, mechanism: mechanism,
            detail: "\(detail) (listener \(connection.listenerName))", api: api)
    }

    func describeUserScramCredentials(_ request: DescribeUserScramCredentialsRequest)
        -> DescribeUserScramCredentialsResponse
    {
        let results = authentication.scram.describe(users: request.users?.map(\.name))
        return DescribeUserScramCredentialsResponse(
            throttleTimeMs: 0, errorCode: 0, errorMessage: nil,
            results: results.map { result in
                .init(
                    user: result.user, errorCode: result.errorCode, errorMessage: result.errorMessage,
                    credentialInfos: result.credentials.map {
                        .init(mechanism: $0.mechanism.kafkaType, iterations: Int32($0.iterations))
                    })
            })
    }

    func alterUserScramCredentials(_ request: AlterUserScramCredentialsRequest, connection: ConnectionContext)
        -> AlterUserScramCredentialsResponse
    {
        let results = authentication.scram.alter(
            deletions: request.deletions.map { ScramDeletion(user: $0.name, mechanism: $0.mechanism) },
            upsertions: request.upsertions.map {
                ScramUpsertion(
                    user: $0.name, mechanism: $0.mechanism, iterations: $0.iterations, salt: $0.salt,
                    saltedPassword: $0.saltedPassword)
            })
        for result in results {
            logger.notice(
                "SCRAM credentials altered",
                metadata: [
                    "user": "\(result.user)", "by": "\(connection.session.principal)",
                    "result": "\(result.errorCode)"
                ])
        }
        return AlterUserScramCredentialsResponse(
            throttleTimeMs: 0,
            results: results.map { .init(user: $0.user, errorCode: $0.errorCode, errorMessage: $0.errorMessage) })
    }
}
