import Foundation

/// The client side of a SASL exchange (sans-IO): PLAIN, or SCRAM-SHA-256/512 (RFC 5802/7677,
/// no channel binding). Drive it with the server's answers:
///
///     var client = SaslClientSession(mechanism: .scramSha512, username: "alice", password: "...")
///     var message = client.initialMessage()          // SaslAuthenticate #1
///     message = try client.respond(to: challenge)    // #2; nil when nothing more to send
///     try client.finish(with: serverFinal)           // checks the server's signature
public struct SaslClientSession: Sendable {
    public let mechanism: SaslMechanism
    let username: String
    let password: Secret
    let clientNonce: String
    private var clientFirstBare = ""
    private var expectedServerSignature: [UInt8]?

    public init(
        mechanism: SaslMechanism, username: String, password: Secret,
        clientNonce: String = Data(Crypto.randomBytes(24)).base64EncodedString()
    ) {
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self.clientNonce = clientNonce
    }

    /// The first message: PLAIN's whole credential, or SCRAM's client-first.
    public mutating func initialMessage() -> [UInt8] {
        switch mechanism {
        case .plain:
            return Array("\0\(username)\0\(password.reveal())".utf8)
        case .scramSha256, .scramSha512:
            clientFirstBare = "n=\(ScramName.escape(username)),r=\(clientNonce)"
            return Array("n,,\(clientFirstBare)".utf8)
        }
    }

    /// SCRAM: the client-final message for the server-first `challenge`. PLAIN: nil.
    public mutating func respond(to challenge: [UInt8]) throws -> [UInt8]? {
        guard let scram = mechanism.scram else { return nil }
        guard let serverFirst = String(validating: challenge, as: UTF8.self) else {
            throw SaslClientError("server-first is not UTF-8")
        }
        var nonce: String?, salt: [UInt8]?, iterations: Int?
        for attribute in serverFirst.split(separator: ",") {
            let value = String(attribute.dropFirst(2))
            switch attribute.prefix(2) {
            case "r=": nonce = value
            case "s=": salt = Data(base64Encoded: value).map(Array.init)
            case "i=": iterations = Int(value)
            case "m=": throw SaslClientError("the server requires an unsupported SCRAM extension")
            default: break
            }
        }
        guard let nonce, nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw SaslClientError("the server's nonce does not extend ours")
        }
        guard let salt, let iterations, iterations >= 1 else {
            throw SaslClientError("server-first lacks salt or iterations")
        }
        let hash = scram.hash
        let salted = Crypto.pbkdf2(hash, password: Array(password.reveal().utf8), salt: salt, iterations: iterations)
        let clientKey = Crypto.hmac(hash, key: salted, Array("Client Key".utf8))
        let storedKey = Crypto.hash(hash, clientKey)
        let withoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let signature = Crypto.hmac(hash, key: storedKey, authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        let serverKey = Crypto.hmac(hash, key: salted, Array("Server Key".utf8))
        expectedServerSignature = Crypto.hmac(hash, key: serverKey, authMessage)
        return Array("\(withoutProof),p=\(Data(proof).base64EncodedString())".utf8)
    }

    /// SCRAM: checks the server-final message (the server proves it knows the credential).
    public func finish(with serverFinal: [UInt8]) throws {
        guard mechanism.scram != nil else { return }
        guard let text = String(validating: serverFinal, as: UTF8.self) else {
            throw SaslClientError("server-final is not UTF-8")
        }
        if text.hasPrefix("e=") { throw SaslClientError("the server refused: \(text.dropFirst(2))") }
        guard text.hasPrefix("v="), let signature = Data(base64Encoded: String(text.dropFirst(2))),
            let expected = expectedServerSignature, Crypto.constantTimeEquals(Array(signature), expected)
        else {
            throw SaslClientError("the server's signature does not match: it does not know this user's credential")
        }
    }
}

public struct SaslClientError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "SASL: \(message)" }
}
