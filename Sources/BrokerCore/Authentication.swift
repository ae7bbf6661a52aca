import Foundation
import KafkaProtocol
import NIOCore
import Security

/// What one connection has proven about itself. Owned by the connection's request loop (which
/// handles one request at a time), so it needs no lock.
public final class ConnectionSession: @unchecked Sendable {
    /// The listener demands SASL: until `authenticated`, only ApiVersions, SaslHandshake and
    /// SaslAuthenticate are served.
    public let requiresSASL: Bool
    var sasl: SaslServerSession?
    public internal(set) var authenticated: Bool
    /// `User:ANONYMOUS` until SASL (or a client certificate) says otherwise.
    public internal(set) var principal: KafkaPrincipal

    public init(requiresSASL: Bool = false, principal: KafkaPrincipal = KafkaPrincipal(name: "ANONYMOUS")) {
        self.requiresSASL = requiresSASL
        self.authenticated = !requiresSASL
        self.principal = principal
    }

    /// The principal a client certificate maps to (mutual TLS). SASL, when the listener has it,
    /// replaces it after authentication.
    public func identified(by principal: KafkaPrincipal) {
        self.principal = principal
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

    func saslHandshake(_ request: SaslHandshakeRequest, connection: ConnectionContext) -> SaslHandshakeResponse {
        let session = connection.session
        if session.sasl == nil { session.sasl = SaslServerSession(configuration: authentication.serverConfiguration) }
        switch session.sasl!.handshake(mechanism: request.mechanism) {
        case let .accepted(_, mechanisms):
            return SaslHandshakeResponse(errorCode: 0, mechanisms: mechanisms)
        case let .rejected(error, mechanisms):
            return SaslHandshakeResponse(errorCode: error.code.rawValue, mechanisms: mechanisms)
        }
    }

    /// Returns the response and whether the connection must close after it (a failed exchange).
    func saslAuthenticate(_ request: SaslAuthenticateRequest, connection: ConnectionContext) -> (SaslAuthenticateResponse, close: Bool) {
        let session = connection.session
        guard session.sasl != nil else {
            return (SaslAuthenticateResponse(errorCode: SecurityErrorCode.illegalSaslState.rawValue,
                                             errorMessage: "SaslAuthenticate before SaslHandshake", authBytes: [], sessionLifetimeMs: 0), true)
        }
        switch session.sasl!.authenticate(request.authBytes) {
        case let .challenge(bytes):
            return (SaslAuthenticateResponse(errorCode: 0, errorMessage: nil, authBytes: bytes, sessionLifetimeMs: 0), false)
        case let .success(principal, finalBytes):
            session.principal = principal
            session.authenticated = true
            logger.info("authenticated", metadata: ["connection": "\(connection.id)", "remote": "\(connection.remoteAddress)",
                                                    "principal": "\(principal)", "listener": "\(connection.listenerName)"])
            return (SaslAuthenticateResponse(errorCode: 0, errorMessage: nil, authBytes: finalBytes, sessionLifetimeMs: 0), false)
        case let .failure(error):
            logger.warning("SASL authentication failed", metadata: ["connection": "\(connection.id)", "remote": "\(connection.remoteAddress)",
                                                                    "listener": "\(connection.listenerName)", "reason": "\(error.message)"])
            return (SaslAuthenticateResponse(errorCode: error.code.rawValue, errorMessage: error.message, authBytes: [], sessionLifetimeMs: 0), true)
        }
    }

    func describeUserScramCredentials(_ request: DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse {
        let results = authentication.scram.describe(users: request.users?.map(\.name))
        return DescribeUserScramCredentialsResponse(
            throttleTimeMs: 0, errorCode: 0, errorMessage: nil,
            results: results.map { result in
                .init(user: result.user, errorCode: result.errorCode.rawValue, errorMessage: result.errorMessage,
                      credentialInfos: result.credentials.map { .init(mechanism: $0.mechanism.kafkaType, iterations: Int32($0.iterations)) })
            })
    }

    func alterUserScramCredentials(_ request: AlterUserScramCredentialsRequest, connection: ConnectionContext) -> AlterUserScramCredentialsResponse {
        let results = authentication.scram.alter(
            deletions: request.deletions.map { ScramDeletion(user: $0.name, mechanism: $0.mechanism) },
            upsertions: request.upsertions.map {
                ScramUpsertion(user: $0.name, mechanism: $0.mechanism, iterations: $0.iterations, salt: $0.salt, saltedPassword: $0.saltedPassword)
            })
        for result in results {
            logger.notice("SCRAM credentials altered", metadata: ["user": "\(result.user)", "by": "\(connection.session.principal)",
                                                                 "result": "\(result.errorCode)"])
        }
        return AlterUserScramCredentialsResponse(
            throttleTimeMs: 0,
            results: results.map { .init(user: $0.user, errorCode: $0.errorCode.rawValue, errorMessage: $0.errorMessage) })
    }
}
