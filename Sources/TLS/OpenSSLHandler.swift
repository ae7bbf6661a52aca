import COpenSSL
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Fired down the pipeline (`fireUserInboundEventTriggered`) when the handshake completes.
public struct TLSHandshakeCompleted: Sendable, Hashable {
    /// The verified peer certificate's subject in RFC 2253 form, most specific first
    /// ("CN=alice,OU=eng,O=Example"); nil when the peer sent no certificate.
    public var peerSubject: String?
    /// "TLSv1.2" or "TLSv1.3".
    public var protocolVersion: String
    /// OpenSSL's cipher suite name, e.g. "TLS_AES_256_GCM_SHA384".
    public var cipher: String
    /// The SNI name: the one the client sent (server side) or asked for (client side).
    public var serverName: String?

    public init(peerSubject: String?, protocolVersion: String, cipher: String, serverName: String? = nil) {
        self.peerSubject = peerSubject
        self.protocolVersion = protocolVersion
        self.cipher = cipher
        self.serverName = serverName
    }
}

/// TLS over a NIO channel with OpenSSL. Ciphertext moves between the channel and OpenSSL through
/// a custom BIO over `ByteBuffer`s (`CiphertextBuffers`), so no byte is copied more often than
/// OpenSSL's record layer needs:
///
/// - inbound, a ciphertext buffer read from the socket is lent to the BIO as it is; `SSL_read`
///   drains it completely (OpenSSL keeps any partial record in its own read buffer), and all the
///   plaintext of one burst of socket reads is passed on as one `ByteBuffer` at
///   `channelReadComplete`;
/// - outbound, `SSL_write` encrypts each plaintext write at once, the BIO appends the records to
///   one ciphertext buffer, and `flush` writes that buffer to the socket in one piece, completing
///   the write promises of everything it holds.
///
/// Put it first in the pipeline (next to the socket). Writes issued before the handshake
/// completes are held and sent after it. A failure fires a `TLSError` (`handshakeFailed` with
/// OpenSSL's reason, `closedDuringHandshake`, `protocolError`) and closes the channel, after
/// sending any alert OpenSSL produced. Closing the channel sends close_notify first; a
/// close_notify from the peer is answered and closes the channel.
///
/// One handler per connection; it takes the `TLSContext`'s current `SSL_CTX` when created.
public final class OpenSSLHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State: Equatable {
        case idle
        case handshaking
        case active
        case closed
    }

    /// The most plaintext one TLS record carries.
    private static let maximumRecordPlaintext = 16 * 1024
    /// Upper bound of one record's framing and AEAD overhead (header, tag, content type, padding).
    private static let recordOverhead = 5 + 256

    private let ssl: OpaquePointer
    private let buffers: CiphertextBuffers
    private let role: TLSConfiguration.Role
    private let requestedServerName: String?
    private var state: State = .idle
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var flushPending = false
    /// Plaintext decrypted in the current burst of reads, not yet passed on.
    private var decrypted: ByteBuffer?
    /// Promises of writes already encrypted into `buffers.outbound`, completed when it is written.
    private var encryptedWritePromises: [EventLoopPromise<Void>] = []

    /// Set when the handshake completes (the same value as the fired event).
    public private(set) var handshakeResult: TLSHandshakeCompleted?

    /// - Parameters:
    ///   - tlsContext: the context; its current `SSL_CTX` is used for this connection.
    ///   - serverHostname: client only: the name to send as SNI and verify the certificate
    ///     against; defaults to the configuration's `serverName`.
    public init(tlsContext: TLSContext, serverHostname: String? = nil) throws {
        let configuration = tlsContext.configuration
        let sslContext = tlsContext.current
        ERR_clear_error()
        guard let ssl = SSL_new(sslContext.pointer) else {
            throw TLSError.openSSL(operation: "SSL_new", reason: drainOpenSSLErrors())
        }
        let buffers = CiphertextBuffers()
        guard let bio = buffers.makeBIO() else {
            SSL_free(ssl)
            throw TLSError.openSSL(operation: "BIO_new", reason: drainOpenSSLErrors())
        }
        SSL_set_bio(ssl, bio, bio)  // ssl owns the BIO now; the BIO points at `buffers`
        SSL_set_read_ahead(ssl, 1)
        self.ssl = ssl
        self.buffers = buffers
        self.role = configuration.role

        switch configuration.role {
        case .server:
            requestedServerName = nil
            SSL_set_accept_state(ssl)
        case .client:
            let name = serverHostname ?? configuration.serverName
            requestedServerName = name
            SSL_set_connect_state(ssl)
            if let name {
                if isIPAddress(name) {
                    // No SNI for addresses (RFC 6066); verify against the certificate's IP SANs.
                    if configuration.verifyHostname,
                        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1
                    {
                        throw TLSError.openSSL(
                            operation: "setting the IP address to verify (\(name))", reason: drainOpenSSLErrors())
                    }
                } else {
                    guard strait_SSL_set_tlsext_host_name(ssl, name) == 1 else {
                        throw TLSError.openSSL(operation: "setting the SNI name \(name)", reason: drainOpenSSLErrors())
                    }
                    if configuration.verifyHostname {
                        SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                        guard SSL_set1_host(ssl, name) == 1 else {
                            throw TLSError.openSSL(
                                operation: "setting the host name to verify (\(name))", reason: drainOpenSSLErrors())
                        }
                    }
                }
            } else if configuration.verifyHostname {
                throw TLSError.invalidConfiguration("hostname verification is on but no server name was given")
            }
        }
    }

    deinit {
        SSL_free(ssl)  // frees the BIO; `buffers` lives as long as this handler
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        buffers.allocator = context.channel.allocator
        if context.channel.isActive { start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        passOnDecrypted(context: context)
        switch state {
        case .idle, .handshaking:
            state = .closed
            failPendingWrites(TLSError.closedDuringHandshake)
            context.fireErrorCaught(TLSError.closedDuringHandshake)
        case .active, .closed:
            state = .closed
            failPendingWrites(ChannelError.ioOnClosedChannel)
        }
        context.fireChannelInactive()
    }

    private func start(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .handshaking
        if role == .client { handshake(context: context) }
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var ciphertext = unwrapInboundIn(data)
        guard state != .closed, ciphertext.readableBytes > 0 else { return }
        buffers.receive(&ciphertext)
        // One clear per event: an error left by another connection on this thread must not be
        // taken for ours. Errors of our own end the connection, which drains the queue.
        ERR_clear_error()
        switch state {
        case .idle, .handshaking:
            state = .handshaking
            handshake(context: context)
        case .active:
            readPlaintext(context: context)
        case .closed:
            break
        }
        if state == .closed { buffers.discardInbound() }
    }

    private func handshake(context: ChannelHandlerContext) {
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            state = .active
            sendCiphertext(context: context, flush: true)
            let result = makeHandshakeResult()
            handshakeResult = result
            context.fireUserInboundEventTriggered(result)
            guard state == .active else { return }
            let writes = pendingWrites
            pendingWrites = []
            for (buffer, promise) in writes {
                encrypt(context: context, buffer, promise: promise)
                guard state == .active else { return }
            }
            if flushPending {
                flushPending = false
                sendCiphertext(context: context, flush: true)
            }
            // Application data may have arrived together with the last handshake message.
            if state == .active { readPlaintext(context: context) }
            return
        }
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            sendCiphertext(context: context, flush: true)
        default:
            fail(context: context, error: TLSError.handshakeFailed(reason: handshakeFailureReason(code: code)))
        }
    }

    /// Decrypts everything received so far into `decrypted`, which is passed on at
    /// `channelReadComplete`: one buffer per burst of socket reads, so the frame decoder after
    /// this handler usually slices whole requests out of it instead of gathering 16 KiB pieces.
    private func readPlaintext(context: ChannelHandlerContext) {
        var plaintext = decrypted ?? context.channel.allocator.buffer(capacity: 0)
        decrypted = nil
        reading: while state == .active {
            // What one call can yield is at most the new ciphertext plus a record OpenSSL holds.
            if plaintext.writableBytes == 0 {
                plaintext.reserveCapacity(minimumWritableBytes: buffers.inboundBytes + Self.maximumRecordPlaintext)
            }
            var rc: Int32 = 0
            plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { bytes in
                rc = SSL_read(ssl, bytes.baseAddress, Int32(min(bytes.count, Int(Int32.max))))
                return rc > 0 ? Int(rc) : 0
            }
            if rc > 0 { continue }
            let code = SSL_get_error(ssl, rc)
            switch code {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                break reading
            case SSL_ERROR_ZERO_RETURN:
                // The peer sent close_notify: pass on what came before it, answer it, close.
                decrypted = plaintext
                passOnDecrypted(context: context)
                guard state == .active else { return }
                SSL_shutdown(ssl)
                closeAfterSending(context: context, promise: nil)
                return
            default:
                decrypted = plaintext
                passOnDecrypted(context: context)
                fail(
                    context: context,
                    error: TLSError.protocolError(
                        reason: drainOpenSSLErrors(fallback: "SSL_read failed (SSL error \(code))")))
                return
            }
        }
        if plaintext.readableBytes > 0 { decrypted = plaintext }
        // Post-handshake messages (TLS 1.3 key updates, session tickets) may need an answer.
        if state == .active, buffers.outboundBytes > 0 { sendCiphertext(context: context, flush: true) }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        passOnDecrypted(context: context)
        context.fireChannelReadComplete()
    }

    private func passOnDecrypted(context: ChannelHandlerContext) {
        guard let plaintext = decrypted else { return }
        decrypted = nil
        if plaintext.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(plaintext)) }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let plaintext = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            pendingWrites.append((plaintext, promise))
        case .active:
            ERR_clear_error()
            encrypt(context: context, plaintext, promise: promise)
        case .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking:
            flushPending = true
        case .active:
            sendCiphertext(context: context, flush: true)
        case .closed:
            context.flush()
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            context.close(mode: mode, promise: promise)
            return
        }
        switch state {
        case .active:
            ERR_clear_error()
            SSL_shutdown(ssl)  // queues close_notify; we do not wait for the peer's
            closeAfterSending(context: context, promise: promise)
        case .idle, .handshaking:
            state = .closed
            failPendingWrites(ChannelError.ioOnClosedChannel)
            context.close(mode: mode, promise: promise)
        case .closed:
            context.close(mode: mode, promise: promise)
        }
    }

    /// Encrypts `plaintext` into the outbound ciphertext buffer; it goes out at the next flush.
    private func encrypt(context: ChannelHandlerContext, _ plaintext: ByteBuffer, promise: EventLoopPromise<Void>?) {
        var plaintext = plaintext
        let records = (plaintext.readableBytes + Self.maximumRecordPlaintext - 1) / Self.maximumRecordPlaintext
        buffers.reserveOutbound(plaintext.readableBytes + records * Self.recordOverhead)
        while plaintext.readableBytes > 0 {
            let rc = plaintext.withUnsafeReadableBytes { bytes in
                SSL_write(ssl, bytes.baseAddress, Int32(min(bytes.count, 1 << 30)))
            }
            guard rc > 0 else {
                let error = TLSError.protocolError(
                    reason: drainOpenSSLErrors(fallback: "SSL_write failed (SSL error \(SSL_get_error(ssl, rc)))"))
                promise?.fail(error)
                fail(context: context, error: error)
                return
            }
            plaintext.moveReaderIndex(forwardBy: Int(rc))
        }
        if let promise { encryptedWritePromises.append(promise) }
    }

    /// Writes the ciphertext gathered so far (if any) downstream, with the promises of the
    /// writes it holds, and flushes when asked.
    private func sendCiphertext(context: ChannelHandlerContext, flush: Bool) {
        let promises = encryptedWritePromises
        encryptedWritePromises = []
        if let ciphertext = buffers.takeOutbound() {
            context.write(wrapOutboundOut(ciphertext), promise: combined(promises, on: context.eventLoop))
        } else {
            for promise in promises { promise.succeed() }
        }
        if flush { context.flush() }
    }

    private func combined(_ promises: [EventLoopPromise<Void>], on eventLoop: any EventLoop) -> EventLoopPromise<Void>?
    {
        switch promises.count {
        case 0: return nil
        case 1: return promises[0]
        default:
            let promise = eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenComplete { result in
                for each in promises { each.completeWith(result) }
            }
            return promise
        }
    }

    // MARK: Failure and close

    private func fail(context: ChannelHandlerContext, error: TLSError) {
        guard state != .closed else { return }
        failPendingWrites(error)
        closeAfterSending(context: context, promise: nil, reporting: error)
    }

    /// Sends whatever ciphertext is queued (data, an alert, close_notify), then closes. An error
    /// to report is fired after the alert is written and before the close: a handler after this
    /// one may close the channel as soon as it sees the error, and the peer should get the alert
    /// (e.g. "certificate expired") rather than a bare end of the connection.
    private func closeAfterSending(
        context: ChannelHandlerContext, promise: EventLoopPromise<Void>?, reporting error: TLSError? = nil
    ) {
        state = .closed
        failPendingWrites(ChannelError.ioOnClosedChannel)
        let promises = encryptedWritePromises
        encryptedWritePromises = []
        guard let output = buffers.takeOutbound() else {
            for each in promises { each.fail(ChannelError.ioOnClosedChannel) }
            if let error { context.fireErrorCaught(error) }
            context.close(promise: promise)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(output), promise: written)
        if let error { context.fireErrorCaught(error) }
        written.futureResult.assumeIsolated().whenComplete { result in
            for each in promises { each.completeWith(result) }
            context.close(promise: promise)
        }
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = pendingWrites
        pendingWrites = []
        flushPending = false
        for (_, promise) in writes { promise?.fail(error) }
    }

    // MARK: OpenSSL helpers

    private func handshakeFailureReason(code: Int32) -> String {
        var reason = drainOpenSSLErrors(fallback: "")
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK, let text = X509_verify_cert_error_string(verify) {
            let detail = String(cString: text)
            reason = reason.isEmpty ? detail : "\(reason) (\(detail))"
        }
        if reason.isEmpty {
            reason = code == SSL_ERROR_SYSCALL ? "unexpected end of the connection" : "SSL error \(code)"
        }
        return reason
    }

    private func makeHandshakeResult() -> TLSHandshakeCompleted {
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? ""
        var subject: String?
        if let certificate = SSL_get1_peer_certificate(ssl) {
            subject = rfc2253Name(X509_get_subject_name(certificate))
            X509_free(certificate)
        }
        let serverName: String?
        switch role {
        case .server:
            serverName = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
        case .client:
            serverName = requestedServerName
        }
        return TLSHandshakeCompleted(
            peerSubject: subject, protocolVersion: version, cipher: cipher, serverName: serverName)
    }
}

@available(*, unavailable)
extension OpenSSLHandler: Sendable {}

/// An X509 name as RFC 2253 text ("CN=alice,OU=eng,O=Example").
func rfc2253Name(_ name: OpaquePointer?) -> String? {
    guard let name, let bio = BIO_new(BIO_s_mem()) else { return nil }
    defer { BIO_free(bio) }
    guard X509_NAME_print_ex(bio, name, 0, strait_XN_FLAG_RFC2253_UTF8()) >= 0 else { return nil }
    let length = Int(BIO_ctrl_pending(bio))
    var bytes = [UInt8](repeating: 0, count: length)
    let read = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(length)) }
    return String(decoding: bytes.prefix(Int(max(read, 0))), as: UTF8.self)
}

private func isIPAddress(_ name: String) -> Bool {
    var v4 = in_addr()
    var v6 = in6_addr()
    return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
}
