import CCrypto
import Foundation

/// A hash function SCRAM and the PLAIN store are built on. Wraps libcrypto's EVP digests.
public enum HashFunction: Sendable, Hashable {
    case sha256
    case sha512

    var evp: OpaquePointer {
        switch self {
        case .sha256: EVP_sha256()
        case .sha512: EVP_sha512()
        }
    }

    /// Digest length in bytes.
    public var outputLength: Int {
        switch self {
        case .sha256: 32
        case .sha512: 64
        }
    }
}

/// The few primitives the Security module needs, over libcrypto. Nothing here allocates keys
/// anywhere but ordinary Swift arrays.
public enum Crypto {
    /// H(data).
    public static func hash(_ hash: HashFunction, _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: hash.outputLength)
        var length: UInt32 = 0
        let ok = data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, hash.evp, nil)
            }
        }
        precondition(ok == 1 && Int(length) == hash.outputLength, "EVP_Digest failed")
        return out
    }

    /// HMAC(key, data).
    public static func hmac(_ hash: HashFunction, key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: hash.outputLength)
        var length: UInt32 = 0
        let result = key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(hash.evp, k.baseAddress, Int32(k.count), d.baseAddress, d.count, o.baseAddress, &length)
                }
            }
        }
        precondition(result != nil && Int(length) == hash.outputLength, "HMAC failed")
        return out
    }

    /// PBKDF2-HMAC (SCRAM's Hi()), output length = digest length.
    public static func pbkdf2(_ hash: HashFunction, password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        precondition(iterations > 0 && iterations <= Int(Int32.max), "bad PBKDF2 iteration count")
        var out = [UInt8](repeating: 0, count: hash.outputLength)
        let ok = password.withUnsafeBufferPointer { p in
            salt.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    p.withMemoryRebound(to: CChar.self) { pc in
                        PKCS5_PBKDF2_HMAC(
                            pc.baseAddress, Int32(pc.count), s.baseAddress, Int32(s.count),
                            Int32(iterations), hash.evp, Int32(o.count), o.baseAddress)
                    }
                }
            }
        }
        precondition(ok == 1, "PKCS5_PBKDF2_HMAC failed")
        return out
    }

    /// Cryptographically secure random bytes (RAND_bytes).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed")
        return out
    }

    /// Compares in time independent of where the inputs differ (CRYPTO_memcmp).
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
        }
    }

    static func xor(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        precondition(a.count == b.count)
        return zip(a, b).map { $0 ^ $1 }
    }
}

extension Array where Element == UInt8 {
    var base64: String { Data(self).base64EncodedString() }

    init?(base64 string: some StringProtocol) {
        guard let data = Data(base64Encoded: String(string)) else { return nil }
        self = Array(data)
    }
}
