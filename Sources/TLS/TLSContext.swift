import COpenSSL
import Logging
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An OpenSSL `SSL_CTX` owned by Swift. `SSL_new` takes its own reference, so a connection
/// keeps the context it started with after the `TLSContext` swaps in a new one.
final class SSLContextBox: @unchecked Sendable {
    // SSL_CTX is safe to share between threads once configured; it is never changed after init.
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { SSL_CTX_free(pointer) }
}

/// A reloadable TLS context: an `SSL_CTX` built from a `TLSConfiguration`'s files.
///
/// `reload()` reads the same files again and, when they load, atomically replaces the context
/// used for *new* connections; established connections keep theirs. `scheduleReloadOnChange`
/// polls the files' modification times and reloads when one changes (certificate rotation).
public final class TLSContext: Sendable {
    public let configuration: TLSConfiguration

    private struct State {
        var context: SSLContextBox
        var fingerprint: [FileFingerprint]
        var generation: Int
    }

    private let state: NIOLockedValueBox<State>

    public init(configuration: TLSConfiguration) throws {
        self.configuration = configuration
        let fingerprint = configuration.files.map(FileFingerprint.init(path:))
        let context = try Self.makeContext(configuration)
        self.state = NIOLockedValueBox(State(context: context, fingerprint: fingerprint, generation: 1))
    }

    /// How many times the context was built (1 after init); grows by one per successful reload.
    public var generation: Int { state.withLockedValue { $0.generation } }

    /// The context new connections use.
    var current: SSLContextBox { state.withLockedValue { $0.context } }

    /// What is wrong with the validity period of the context's own certificate (the first of
    /// `certificateChainFile`), or nil when it is valid now or there is none: "certificate FILE
    /// expired on DATE" / "... is not valid before DATE". OpenSSL loads such a certificate, and
    /// peers refuse it at every handshake, so the owner should say so when it loads it.
    public var certificateValidityProblem: String? {
        let box = current
        guard let file = configuration.certificateChainFile,
            let certificate = SSL_CTX_get0_certificate(box.pointer)
        else { return nil }
        return withExtendedLifetime(box) {
            if let notAfter = X509_get0_notAfter(certificate), X509_cmp_current_time(notAfter) < 0 {
                return "certificate \(file) expired on \(asn1TimeText(notAfter))"
            }
            if let notBefore = X509_get0_notBefore(certificate), X509_cmp_current_time(notBefore) > 0 {
                return "certificate \(file) is not valid before \(asn1TimeText(notBefore))"
            }
            return nil
        }
    }

    /// Builds a new `SSL_CTX` from the configuration's files and uses it for new connections.
    /// On failure the current context stays and the error is thrown.
    public func reload() throws {
        let fingerprint = configuration.files.map(FileFingerprint.init(path:))
        let context = try Self.makeContext(configuration)
        state.withLockedValue {
            $0.context = context
            $0.fingerprint = fingerprint
            $0.generation += 1
        }
    }

    /// Reloads when a file's modification time, size or inode differs from when the context was
    /// last built. Returns whether it reloaded.
    @discardableResult
    public func reloadIfFilesChanged() throws -> Bool {
        let now = configuration.files.map(FileFingerprint.init(path:))
        let last = state.withLockedValue { $0.fingerprint }
        guard now != last else { return false }
        try reload()
        return true
    }

    /// Polls the files every `interval` (default 10 s) on `eventLoop` and reloads when they
    /// change. A failed reload is logged and retried at the next change; the old context stays.
    /// Cancel the returned task to stop. File reads are small and happen on the event loop.
    public func scheduleReloadOnChange(
        every interval: TimeAmount = .seconds(10), on eventLoop: any EventLoop, logger: Logger
    ) -> RepeatedTask {
        eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            let before = state.withLockedValue { $0.fingerprint }
            do {
                if try reloadIfFilesChanged() {
                    logger.info(
                        "TLS context reloaded",
                        metadata: ["role": "\(configuration.role.rawValue)", "files": "\(configuration.files)"])
                    if let problem = certificateValidityProblem {
                        logger.warning("TLS: the reloaded \(problem); peers will refuse it")
                    }
                }
            } catch {
                // Remember the files as seen so a half-written renewal is not retried every poll;
                // the next change to any file triggers another attempt.
                let seen = configuration.files.map(FileFingerprint.init(path:))
                state.withLockedValue { if $0.fingerprint == before { $0.fingerprint = seen } }
                logger.error(
                    "TLS context reload failed; keeping the previous certificate", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Building an SSL_CTX

    static func makeContext(_ configuration: TLSConfiguration) throws -> SSLContextBox {
        ERR_clear_error()
        let method = configuration.role == .server ? TLS_server_method() : TLS_client_method()
        guard let raw = SSL_CTX_new(method) else {
            throw TLSError.openSSL(operation: "SSL_CTX_new", reason: drainOpenSSLErrors())
        }
        let box = SSLContextBox(raw)
        let ctx = box.pointer

        if let max = configuration.maximumVersion, max < configuration.minimumVersion {
            throw TLSError.invalidConfiguration(
                "maximum version \(max.rawValue) is below minimum \(configuration.minimumVersion.rawValue)")
        }
        guard strait_SSL_CTX_set_min_proto_version(ctx, configuration.minimumVersion.openSSLValue) == 1 else {
            throw TLSError.openSSL(operation: "setting the minimum TLS version", reason: drainOpenSSLErrors())
        }
        if let max = configuration.maximumVersion {
            guard strait_SSL_CTX_set_max_proto_version(ctx, max.openSSLValue) == 1 else {
                throw TLSError.openSSL(operation: "setting the maximum TLS version", reason: drainOpenSSLErrors())
            }
        }
        strait_SSL_CTX_disable_renegotiation_and_compression(ctx)
        try setCipherSuites(ctx, configuration)

        // Own certificate and key.
        switch (configuration.certificateChainFile, configuration.privateKeyFile) {
        case (let cert?, let key?):
            try checkExists(cert, kind: "certificate chain")
            try checkExists(key, kind: "private key")
            guard SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 else {
                throw TLSError.invalidFile(kind: "certificate chain", path: cert, reason: drainOpenSSLErrors())
            }
            guard SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else {
                // OpenSSL checks the key against the certificate as it loads it.
                let reasonCode = ERR_GET_REASON(ERR_peek_last_error())
                let mismatch = reasonCode == X509_R_KEY_VALUES_MISMATCH || reasonCode == X509_R_KEY_TYPE_MISMATCH
                let reason = drainOpenSSLErrors()
                if mismatch { throw TLSError.keyMismatch(certificateFile: cert, privateKeyFile: key, reason: reason) }
                throw TLSError.invalidFile(kind: "private key", path: key, reason: reason)
            }
            guard SSL_CTX_check_private_key(ctx) == 1 else {
                throw TLSError.keyMismatch(certificateFile: cert, privateKeyFile: key, reason: drainOpenSSLErrors())
            }
        case (nil, nil):
            if configuration.role == .server {
                throw TLSError.invalidConfiguration(
                    "a TLS server needs a certificate chain file and a private key file")
            }
        case (_?, nil):
            throw TLSError.invalidConfiguration("a certificate chain file is configured without its private key file")
        case (nil, _?):
            throw TLSError.invalidConfiguration("a private key file is configured without its certificate chain file")
        }

        // Trust and peer verification.
        switch configuration.role {
        case .client:
            if let ca = configuration.caFile {
                try loadCA(ctx, ca)
            } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
                throw TLSError.openSSL(operation: "loading the system CA certificates", reason: drainOpenSSLErrors())
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        case .server:
            switch configuration.clientAuth {
            case .none:
                if let ca = configuration.caFile { try loadCA(ctx, ca) }
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            case .requested, .required:
                guard let ca = configuration.caFile else {
                    throw TLSError.invalidConfiguration(
                        "client authentication '\(configuration.clientAuth.rawValue)' needs a CA file to verify client certificates"
                    )
                }
                try loadCA(ctx, ca)
                // Tell clients which CAs we accept, so they pick the right certificate.
                if let names = SSL_load_client_CA_file(ca) {
                    SSL_CTX_set_client_CA_list(ctx, names)
                }
                let mode =
                    configuration.clientAuth == .required
                    ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
                SSL_CTX_set_verify(ctx, mode, nil)
            }
        }
        ERR_clear_error()
        return box
    }

    private static func setCipherSuites(_ ctx: OpaquePointer, _ configuration: TLSConfiguration) throws {
        let names = configuration.cipherSuites ?? TLSConfiguration.defaultTLS13CipherSuites
        guard !names.isEmpty else { throw TLSError.invalidConfiguration("the cipher suite list is empty") }
        let tls13 = names.filter { TLSConfiguration.tls13CipherSuiteNames.contains($0) }
        let tls12 = names.filter { !TLSConfiguration.tls13CipherSuiteNames.contains($0) }
        if let unknown = tls12.first(where: { $0.hasPrefix("TLS_") }) {
            throw TLSError.invalidConfiguration(
                "unknown cipher suite '\(unknown)'; TLS 1.3 suites are \(TLSConfiguration.tls13CipherSuiteNames.sorted().joined(separator: ", ")), TLS 1.2 ones take OpenSSL's names (openssl ciphers -v)"
            )
        }
        // An empty TLS 1.3 list turns TLS 1.3 off; a list with only TLS 1.3 suites keeps
        // OpenSSL's TLS 1.2 defaults.
        guard SSL_CTX_set_ciphersuites(ctx, tls13.joined(separator: ":")) == 1 else {
            throw TLSError.invalidConfiguration("cipher suites \(tls13) were refused: \(drainOpenSSLErrors())")
        }
        if !tls12.isEmpty {
            for name in tls12 where SSL_CTX_set_cipher_list(ctx, name) != 1 {
                _ = drainOpenSSLErrors()
                throw TLSError.invalidConfiguration(
                    "unknown TLS 1.2 cipher '\(name)' (OpenSSL names, see openssl ciphers -v)")
            }
            guard SSL_CTX_set_cipher_list(ctx, tls12.joined(separator: ":")) == 1 else {
                throw TLSError.invalidConfiguration("TLS 1.2 ciphers \(tls12) were refused: \(drainOpenSSLErrors())")
            }
        } else if tls13.isEmpty == false, configuration.cipherSuites != nil, configuration.maximumVersion == .tls1_2 {
            throw TLSError.invalidConfiguration("only TLS 1.3 cipher suites are listed but TLS 1.3 is disabled")
        }
        if configuration.role == .server { strait_SSL_CTX_prefer_server_ciphers(ctx) }
    }

    private static func loadCA(_ ctx: OpaquePointer, _ path: String) throws {
        try checkExists(path, kind: "CA")
        guard SSL_CTX_load_verify_locations(ctx, path, nil) == 1 else {
            throw TLSError.invalidFile(kind: "CA", path: path, reason: drainOpenSSLErrors())
        }
    }

    private static func checkExists(_ path: String, kind: String) throws {
        guard access(path, F_OK) == 0 else { throw TLSError.fileNotFound(kind: kind, path: path) }
        guard access(path, R_OK) == 0 else {
            throw TLSError.invalidFile(kind: kind, path: path, reason: String(cString: strerror(errno)))
        }
    }
}

extension TLSConfiguration.Version {
    var openSSLValue: Int32 {
        switch self {
        case .tls1_2: return strait_TLS1_2_VERSION()
        case .tls1_3: return strait_TLS1_3_VERSION()
        }
    }
}

/// What identifies a file's content cheaply: modification time, size and inode (a rename over
/// the file, as certificate tooling and Kubernetes secret mounts do, changes the inode).
struct FileFingerprint: Hashable, Sendable {
    var exists: Bool
    var seconds: Int
    var nanoseconds: Int
    var size: Int64
    var inode: UInt64

    init(path: String) {
        var info = stat()
        if stat(path, &info) == 0 {
            exists = true
            #if canImport(Darwin)
                seconds = Int(info.st_mtimespec.tv_sec)
                nanoseconds = Int(info.st_mtimespec.tv_nsec)
            #else
                seconds = Int(info.st_mtim.tv_sec)
                nanoseconds = Int(info.st_mtim.tv_nsec)
            #endif
            size = Int64(info.st_size)
            inode = UInt64(info.st_ino)
        } else {
            exists = false
            seconds = 0
            nanoseconds = 0
            size = 0
            inode = 0
        }
    }
}

/// An ASN1_TIME as OpenSSL prints it ("Jan  2 00:00:00 2020 GMT").
private func asn1TimeText(_ time: UnsafePointer<ASN1_TIME>) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { return "?" }
    defer { BIO_free(bio) }
    guard ASN1_TIME_print(bio, time) == 1 else { return "?" }
    let length = Int(BIO_ctrl_pending(bio))
    var bytes = [UInt8](repeating: 0, count: length)
    let read = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(length)) }
    return String(decoding: bytes.prefix(Int(max(read, 0))), as: UTF8.self)
}
