import COpenSSL
import NIOCore

/// The two ciphertext buffers of one TLS connection, and the custom OpenSSL BIO over them.
///
/// Inbound: the channel's read buffer is lent as it is (`receive`); the BIO's read callback
/// copies from it into OpenSSL's record buffer and reports "retry" when it is empty, which
/// `SSL_read` turns into `SSL_ERROR_WANT_READ`. Outbound: the BIO's write callback appends
/// OpenSSL's records to one `ByteBuffer` that the handler takes (`takeOutbound`) at a flush.
///
/// Compared with a pair of memory BIOs this saves a copy each way. The BIO holds an unretained
/// pointer to this object; the handler owns both and frees the SSL (and with it the BIO) first.
final class CiphertextBuffers {
    var allocator = ByteBufferAllocator()
    private var inbound: ByteBuffer?
    private var outbound: ByteBuffer?

    /// Bytes received and not yet taken by OpenSSL.
    var inboundBytes: Int { inbound?.readableBytes ?? 0 }
    /// Ciphertext OpenSSL produced that is not yet taken.
    var outboundBytes: Int { outbound?.readableBytes ?? 0 }

    /// Lends `ciphertext` to OpenSSL; appended when an earlier buffer is not used up.
    func receive(_ ciphertext: inout ByteBuffer) {
        if var pending = inbound, pending.readableBytes > 0 {
            inbound = nil  // keep the storage uniquely referenced while appending
            pending.writeBuffer(&ciphertext)
            inbound = pending
        } else {
            inbound = ciphertext
        }
    }

    func discardInbound() { inbound = nil }

    /// Makes room for `bytes` more ciphertext, so a large write allocates once.
    func reserveOutbound(_ bytes: Int) {
        if outbound == nil {
            outbound = allocator.buffer(capacity: bytes)
        } else {
            outbound!.reserveCapacity(minimumWritableBytes: bytes)
        }
    }

    /// The ciphertext produced so far, or nil when there is none.
    func takeOutbound() -> ByteBuffer? {
        guard let buffer = outbound, buffer.readableBytes > 0 else { return nil }
        outbound = nil
        return buffer
    }

    /// A BIO reading from and writing to these buffers; nil when OpenSSL cannot allocate one.
    func makeBIO() -> OpaquePointer? {
        guard let method = Self.method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    // MARK: Callbacks

    fileprivate func read(into destination: UnsafeMutableRawPointer, count: Int) -> Int {
        guard var source = inbound, source.readableBytes > 0 else { return 0 }
        inbound = nil
        let taken = min(count, source.readableBytes)
        source.withUnsafeReadableBytes { bytes in
            destination.copyMemory(from: bytes.baseAddress!, byteCount: taken)
        }
        source.moveReaderIndex(forwardBy: taken)
        if source.readableBytes > 0 { inbound = source }  // drop the storage once it is used up
        return taken
    }

    fileprivate func write(from source: UnsafeRawPointer, count: Int) {
        if outbound == nil { outbound = allocator.buffer(capacity: max(count, 4096)) }
        outbound!.writeBytes(UnsafeRawBufferPointer(start: source, count: count))
    }

    /// One BIO_METHOD for the process (OpenSSL never changes it after setup).
    nonisolated(unsafe) private static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "strait-bytebuffer") else {
            return nil
        }
        BIO_meth_set_read(method) { bio, data, length in
            guard let bio, let data, length > 0 else { return 0 }
            strait_BIO_clear_retry_flags(bio)
            let buffers = Unmanaged<CiphertextBuffers>.fromOpaque(BIO_get_data(bio)).takeUnretainedValue()
            let read = buffers.read(into: data, count: Int(length))
            if read == 0 {
                strait_BIO_set_retry_read(bio)
                return -1
            }
            return Int32(read)
        }
        BIO_meth_set_write(method) { bio, data, length in
            guard let bio, let data, length > 0 else { return 0 }
            strait_BIO_clear_retry_flags(bio)
            let buffers = Unmanaged<CiphertextBuffers>.fromOpaque(BIO_get_data(bio)).takeUnretainedValue()
            buffers.write(from: data, count: Int(length))
            return length
        }
        BIO_meth_set_ctrl(method) { _, command, _, _ in
            // OpenSSL flushes after handshake flights; the handler does the real flushing.
            command == BIO_CTRL_FLUSH ? 1 : 0
        }
        BIO_meth_set_create(method) { _ in 1 }
        BIO_meth_set_destroy(method) { bio in
            BIO_set_data(bio, nil)
            BIO_set_init(bio, 0)
            return 1
        }
        return method
    }()
}
