import Foundation
@testable import Security

/// A minimal SCRAM client (RFC 5802) to drive the server in tests.
struct ScramClient {
    let mechanism: ScramMechanism
    let user: String
    let password: String
    let clientNonce: String
    var gs2Header = "n,,"
    var clientFirstBare: String { "n=\(ScramName.escape(user)),r=\(clientNonce)" }
    var expectedServerSignature: [UInt8]?

    init(
        mechanism: ScramMechanism, user: String, password: String,
        clientNonce: String = UUID().uuidString.replacingOccurrences(of: "-", with: "")
    ) {
        self.mechanism = mechanism
        self.user = user
        self.password = password
        self.clientNonce = clientNonce
    }

    func clientFirst() -> [UInt8] { Array((gs2Header + clientFirstBare).utf8) }

    enum ClientError: Error { case bad(String) }

    /// Returns client-final for a server-first.
    mutating func clientFinal(serverFirst: [UInt8], overrideNonce: String? = nil, passwordOverride: String? = nil)
        throws -> [UInt8]
    {
        let sf = String(decoding: serverFirst, as: UTF8.self)
        var nonce = "", salt: [UInt8] = [], iterations = 0
        for attr in sf.split(separator: ",") {
            let v = attr.dropFirst(2)
            switch attr.prefix(2) {
            case "r=": nonce = String(v)
            case "s=": salt = [UInt8](base64: v) ?? []
            case "i=": iterations = Int(v) ?? 0
            default: break
            }
        }
        guard nonce.hasPrefix(clientNonce) else { throw ClientError.bad("server nonce does not extend ours") }
        let h = mechanism.hash
        let salted = Crypto.pbkdf2(
            h, password: Array((passwordOverride ?? password).utf8), salt: salt, iterations: iterations)
        let keys = ScramKeys(hash: h, saltedPassword: salted)
        let withoutProof = "c=\(Array(gs2Header.utf8).base64),r=\(overrideNonce ?? nonce)"
        let authMessage = Array("\(clientFirstBare),\(sf),\(withoutProof)".utf8)
        let signature = Crypto.hmac(h, key: keys.storedKey, authMessage)
        let proof = Crypto.xor(keys.clientKey, signature)
        expectedServerSignature = Crypto.hmac(h, key: keys.serverKey, authMessage)
        return Array("\(withoutProof),p=\(proof.base64)".utf8)
    }

    func verifyServerFinal(_ bytes: [UInt8]) -> Bool {
        guard let expected = expectedServerSignature else { return false }
        return String(decoding: bytes, as: UTF8.self) == "v=\(expected.base64)"
    }
}
