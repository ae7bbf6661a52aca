import COpenSSL

/// TLS failures, each naming the file or the OpenSSL reason involved.
public enum TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The configuration cannot work (e.g. a server without a certificate).
    case invalidConfiguration(String)
    /// A configured file does not exist. `kind` says which: "certificate chain", "private key", "CA".
    case fileNotFound(kind: String, path: String)
    /// OpenSSL could not load a file.
    case invalidFile(kind: String, path: String, reason: String)
    /// The private key is not the key of the certificate.
    case keyMismatch(certificateFile: String, privateKeyFile: String, reason: String)
    /// The handshake failed; `reason` is OpenSSL's ("certificate verify failed", "wrong version number", ...).
    case handshakeFailed(reason: String)
    /// The connection closed before the handshake finished.
    case closedDuringHandshake
    /// A TLS record could not be read or written after the handshake.
    case protocolError(reason: String)
    /// Another OpenSSL call failed.
    case openSSL(operation: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let message):
            return "invalid TLS configuration: \(message)"
        case .fileNotFound(let kind, let path):
            return "TLS \(kind) file not found: \(path)"
        case .invalidFile(let kind, let path, let reason):
            return "cannot load TLS \(kind) file \(path): \(reason)"
        case .keyMismatch(let certificateFile, let privateKeyFile, let reason):
            return "TLS private key \(privateKeyFile) does not match certificate \(certificateFile): \(reason)"
        case .handshakeFailed(let reason):
            return "TLS handshake failed: \(reason)"
        case .closedDuringHandshake:
            return "TLS handshake failed: connection closed by the peer during the handshake"
        case .protocolError(let reason):
            return "TLS error: \(reason)"
        case .openSSL(let operation, let reason):
            return "OpenSSL \(operation) failed: \(reason)"
        }
    }
}

/// Empties this thread's OpenSSL error queue and returns its reasons joined by "; "
/// (`fallback` when empty).
func drainOpenSSLErrors(fallback: String = "unknown OpenSSL error") -> String {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        if let reason = ERR_reason_error_string(code) {
            reasons.append(String(cString: reason))
        } else {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
    return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
}
