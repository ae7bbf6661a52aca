import CLZ4
import CSnappy
import CZlib
import CZstd
import NIOCore

/// Compression of a batch's records area, with the framing Kafka clients expect.
///
/// - gzip: a gzip stream (zlib, windowBits 15+16). Reading accepts concatenated members.
/// - snappy: writes one **raw** snappy block (like librdkafka). Reads a raw block or the
///   xerial snappy-java stream framing the Java client writes (magic `82 'SNAPPY' 00`,
///   int32 version, int32 compatible version, then int32-BE-length-prefixed raw blocks).
/// - lz4: the LZ4 *frame* format with independent blocks, 64 KiB max block size, no block
///   checksum and no content checksum (what Kafka's Java reader requires). Reading accepts any
///   valid frame, including content checksums and concatenated frames.
/// - zstd: a standard zstd frame. Reading streams, so frames without a content size work.
///
/// Every decompression is bounded by `maxSize`: producing more bytes than that throws
/// ``RecordBatchError/decompressedTooLarge(_:limit:)`` before the extra bytes are allocated
/// (decompression bomb guard).
public enum Compression {
    /// Snappy-java's stream header magic.
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    /// Bytes before the first xerial chunk: magic, version, compatible version.
    static let xerialHeaderSize = 16

    public static func compress(_ data: ByteBuffer, codec: CompressionCodec, level: Int? = nil) throws(RecordBatchError)
        -> ByteBuffer
    {
        let result: Result<ByteBuffer, RecordBatchError> = data.withUnsafeReadableBytes { input in
            Result { () throws(RecordBatchError) in try compress(raw: input, codec: codec, level: level) }
        }
        return try result.get()
    }

    public static func compress(_ data: [UInt8], codec: CompressionCodec, level: Int? = nil) throws(RecordBatchError)
        -> ByteBuffer
    {
        let result: Result<ByteBuffer, RecordBatchError> = data.withUnsafeBytes { input in
            Result { () throws(RecordBatchError) in try compress(raw: input, codec: codec, level: level) }
        }
        return try result.get()
    }

    /// Decompresses `data` (all its readable bytes), refusing to produce more than `maxSize` bytes.
    public static func decompress(_ data: ByteBuffer, codec: CompressionCodec, maxSize: Int) throws(RecordBatchError)
        -> ByteBuffer
    {
        let result: Result<ByteBuffer, RecordBatchError> = data.withUnsafeReadableBytes { input in
            Result { () throws(RecordBatchError) in try decompress(raw: input, codec: codec, maxSize: maxSize) }
        }
        return try result.get()
    }

    public static func decompress(_ data: [UInt8], codec: CompressionCodec, maxSize: Int) throws(RecordBatchError)
        -> ByteBuffer
    {
        let result: Result<ByteBuffer, RecordBatchError> = data.withUnsafeBytes { input in
            Result { () throws(RecordBatchError) in try decompress(raw: input, codec: codec, maxSize: maxSize) }
        }
        return try result.get()
    }

    /// Snappy with the xerial snappy-java stream framing, as the Java client writes it:
    /// the 16-byte header, then each `blockSize` slice of input as an int32-BE length and a raw block.
    /// Kafka readers accept it; we write raw snappy by default. Useful to emulate Java producers.
    public static func compressXerialSnappy(_ data: [UInt8], blockSize: Int = 32 * 1024) throws(RecordBatchError)
        -> ByteBuffer
    {
        precondition(blockSize > 0, "blockSize must be positive")
        var out = ByteBuffer()
        out.writeBytes(xerialMagic)
        out.writeInteger(Int32(1), endianness: .big)  // version
        out.writeInteger(Int32(1), endianness: .big)  // compatible version
        var start = 0
        while start < data.count {
            let end = min(data.count, start + blockSize)
            let block = try compress(Array(data[start..<end]), codec: .snappy)
            out.writeInteger(Int32(block.readableBytes), endianness: .big)
            out.writeImmutableBuffer(block)
            start = end
        }
        return out
    }

    // MARK: - Dispatch

    static func compress(raw input: UnsafeRawBufferPointer, codec: CompressionCodec, level: Int?)
        throws(RecordBatchError) -> ByteBuffer
    {
        switch codec {
        case .none: return ByteBuffer(bytes: input)
        case .gzip: return try gzipCompress(input, level: level)
        case .snappy: return try snappyCompress(input)
        case .lz4: return try lz4Compress(input, level: level)
        case .zstd: return try zstdCompress(input, level: level)
        }
    }

    static func decompress(raw input: UnsafeRawBufferPointer, codec: CompressionCodec, maxSize: Int)
        throws(RecordBatchError) -> ByteBuffer
    {
        switch codec {
        case .none:
            guard input.count <= maxSize else { throw .decompressedTooLarge(codec, limit: maxSize) }
            return ByteBuffer(bytes: input)
        case .gzip: return try gzipDecompress(input, maxSize: maxSize)
        case .snappy: return try snappyDecompress(input, maxSize: maxSize)
        case .lz4: return try lz4Decompress(input, maxSize: maxSize)
        case .zstd: return try zstdDecompress(input, maxSize: maxSize)
        }
    }

    // MARK: - gzip

    static func gzipCompress(_ input: UnsafeRawBufferPointer, level: Int?) throws(RecordBatchError) -> ByteBuffer {
        var stream = z_stream()
        let windowBitsGzip: Int32 = 15 + 16
        let status = deflateInit2_(
            &stream, Int32(level ?? Int(Z_DEFAULT_COMPRESSION)), Z_DEFLATED, windowBitsGzip, 8,
            Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw .compressionFailed(.gzip, "deflateInit2 returned \(status)") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        var out = ByteBuffer()
        out.reserveCapacity(bound)
        var result = Z_OK
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { output in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(output.count)
            result = deflate(&stream, Z_FINISH)
            return output.count - Int(stream.avail_out)
        }
        guard result == Z_STREAM_END else { throw .compressionFailed(.gzip, "deflate returned \(result)") }
        return out
    }

    static func gzipDecompress(_ input: UnsafeRawBufferPointer, maxSize: Int) throws(RecordBatchError) -> ByteBuffer {
        var stream = z_stream()
        let windowBitsGzip: Int32 = 15 + 16
        let status = inflateInit2_(&stream, windowBitsGzip, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw .decompressionFailed(.gzip, "inflateInit2 returned \(status)") }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        var output = BoundedOutput(codec: .gzip, limit: maxSize, expected: input.count * 4)
        while true {
            var result = Z_OK
            var outputFilled = false
            try output.write { space in
                stream.next_out = space.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(space.count)
                result = inflate(&stream, Z_NO_FLUSH)
                outputFilled = stream.avail_out == 0
                return space.count - Int(stream.avail_out)
            }
            switch result {
            case Z_STREAM_END:
                // Concatenated gzip members are one stream (as GZIPInputStream reads them).
                if stream.avail_in == 0 { return output.buffer }
                guard inflateReset(&stream) == Z_OK else { throw .decompressionFailed(.gzip, "inflateReset failed") }
            case Z_OK:
                continue
            case Z_BUF_ERROR where outputFilled:
                continue
            case Z_BUF_ERROR:
                throw .decompressionFailed(.gzip, "stream truncated")
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "inflate returned \(result)"
                throw .decompressionFailed(.gzip, message)
            }
        }
    }

    // MARK: - snappy

    static func snappyCompress(_ input: UnsafeRawBufferPointer) throws(RecordBatchError) -> ByteBuffer {
        let bound = snappy_max_compressed_length(input.count)
        var out = ByteBuffer()
        var status = SNAPPY_OK
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { output in
            var length = output.count
            status = withCChars(input) { source in
                snappy_compress(source, input.count, output.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
            }
            return status == SNAPPY_OK ? length : 0
        }
        guard status == SNAPPY_OK else {
            throw .compressionFailed(.snappy, "snappy_compress returned \(status.rawValue)")
        }
        return out
    }

    static func snappyDecompress(_ input: UnsafeRawBufferPointer, maxSize: Int) throws(RecordBatchError) -> ByteBuffer {
        guard input.count >= xerialMagic.count, xerialMagic.withUnsafeBytes({ $0.elementsEqual(input.prefix(8)) })
        else {
            var out = ByteBuffer()
            try snappyDecompressBlock(input, into: &out, maxSize: maxSize)
            return out
        }
        // xerial framing: header, then int32-BE chunk length + raw snappy block, repeated.
        guard input.count >= xerialHeaderSize else { throw .decompressionFailed(.snappy, "xerial header truncated") }
        var out = ByteBuffer()
        var index = xerialHeaderSize
        while index < input.count {
            guard input.count - index >= 4 else { throw .decompressionFailed(.snappy, "xerial chunk length truncated") }
            let length = Int(
                Int32(
                    bitPattern: UInt32(input[index]) << 24 | UInt32(input[index + 1]) << 16
                        | UInt32(input[index + 2]) << 8 | UInt32(input[index + 3])))
            index += 4
            guard length >= 0, length <= input.count - index else {
                throw .decompressionFailed(
                    .snappy, "xerial chunk of \(length) bytes exceeds the \(input.count - index) bytes left")
            }
            try snappyDecompressBlock(
                UnsafeRawBufferPointer(rebasing: input[index..<(index + length)]), into: &out, maxSize: maxSize)
            index += length
        }
        return out
    }

    /// Appends one raw snappy block to `out`, keeping `out` within `maxSize` bytes.
    static func snappyDecompressBlock(_ block: UnsafeRawBufferPointer, into out: inout ByteBuffer, maxSize: Int)
        throws(RecordBatchError)
    {
        var length = 0
        guard withCChars(block, { snappy_uncompressed_length($0, block.count, &length) }) == SNAPPY_OK else {
            throw .decompressionFailed(.snappy, "invalid snappy block header")
        }
        guard length <= maxSize - out.readableBytes else { throw .decompressedTooLarge(.snappy, limit: maxSize) }
        guard length > 0 else {
            // An empty block must still be well formed.
            guard withCChars(block, { snappy_validate_compressed_buffer($0, block.count) }) == SNAPPY_OK else {
                throw .decompressionFailed(.snappy, "corrupt snappy block")
            }
            return
        }
        var status = SNAPPY_OK
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { output in
            var written = length
            status = withCChars(block) { source in
                snappy_uncompress(
                    source, block.count, output.baseAddress!.assumingMemoryBound(to: CChar.self), &written)
            }
            return status == SNAPPY_OK ? written : 0
        }
        guard status == SNAPPY_OK else { throw .decompressionFailed(.snappy, "corrupt snappy block") }
    }

    // MARK: - lz4

    static func lz4Compress(_ input: UnsafeRawBufferPointer, level: Int?) throws(RecordBatchError) -> ByteBuffer {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        preferences.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        preferences.frameInfo.frameType = LZ4F_frame
        preferences.frameInfo.contentSize = 0
        preferences.compressionLevel = Int32(level ?? 0)
        let bound = LZ4F_compressFrameBound(input.count, &preferences)
        var out = ByteBuffer()
        var result = 0
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { output in
            result = LZ4F_compressFrame(output.baseAddress, output.count, input.baseAddress, input.count, &preferences)
            return LZ4F_isError(result) != 0 ? 0 : result
        }
        guard LZ4F_isError(result) == 0 else {
            throw .compressionFailed(.lz4, String(cString: LZ4F_getErrorName(result)))
        }
        return out
    }

    static func lz4Decompress(_ input: UnsafeRawBufferPointer, maxSize: Int) throws(RecordBatchError) -> ByteBuffer {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else {
            throw .decompressionFailed(.lz4, "cannot create a decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        guard input.count > 0 else { throw .decompressionFailed(.lz4, "empty input is not an lz4 frame") }
        var output = BoundedOutput(codec: .lz4, limit: maxSize, expected: input.count * 4)
        var consumed = 0
        while true {
            var hint = 0
            var madeProgress = false
            try output.write { space in
                var written = space.count
                var read = input.count - consumed
                hint = LZ4F_decompress(context, space.baseAddress, &written, input.baseAddress! + consumed, &read, nil)
                if LZ4F_isError(hint) != 0 { return 0 }
                consumed += read
                madeProgress = read > 0 || written > 0
                return written
            }
            if LZ4F_isError(hint) != 0 {
                throw .decompressionFailed(.lz4, String(cString: LZ4F_getErrorName(hint)))
            }
            if hint == 0 {
                // End of a frame; another may follow.
                if consumed == input.count { return output.buffer }
            } else if consumed == input.count && !madeProgress {
                throw .decompressionFailed(.lz4, "frame truncated")
            }
        }
    }

    // MARK: - zstd

    static func zstdCompress(_ input: UnsafeRawBufferPointer, level: Int?) throws(RecordBatchError) -> ByteBuffer {
        let bound = ZSTD_compressBound(input.count)
        var out = ByteBuffer()
        var result = 0
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { output in
            result = ZSTD_compress(output.baseAddress, output.count, input.baseAddress, input.count, Int32(level ?? 3))
            return ZSTD_isError(result) != 0 ? 0 : result
        }
        guard ZSTD_isError(result) == 0 else {
            throw .compressionFailed(.zstd, String(cString: ZSTD_getErrorName(result)))
        }
        return out
    }

    static func zstdDecompress(_ input: UnsafeRawBufferPointer, maxSize: Int) throws(RecordBatchError) -> ByteBuffer {
        guard let context = ZSTD_createDCtx() else {
            throw .decompressionFailed(.zstd, "cannot create a decompression context")
        }
        defer { ZSTD_freeDCtx(context) }
        guard input.count > 0 else { throw .decompressionFailed(.zstd, "empty input is not a zstd frame") }
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var output = BoundedOutput(codec: .zstd, limit: maxSize, expected: input.count * 4)
        while true {
            var result = 0
            var outputFilled = false
            try output.write { space in
                var sink = ZSTD_outBuffer(dst: space.baseAddress, size: space.count, pos: 0)
                result = ZSTD_decompressStream(context, &sink, &source)
                outputFilled = sink.pos == sink.size
                return ZSTD_isError(result) != 0 ? 0 : sink.pos
            }
            if ZSTD_isError(result) != 0 {
                throw .decompressionFailed(.zstd, String(cString: ZSTD_getErrorName(result)))
            }
            let inputDone = source.pos == source.size
            if result == 0 && inputDone { return output.buffer }
            if inputDone && !outputFilled { throw .decompressionFailed(.zstd, "frame truncated") }
        }
    }

    /// Snappy's C API wants a non-null pointer even for empty input.
    static func withCChars<R>(_ input: UnsafeRawBufferPointer, _ body: (UnsafePointer<CChar>) -> R) -> R {
        if let base = input.baseAddress { return body(base.assumingMemoryBound(to: CChar.self)) }
        let zero: CChar = 0
        return withUnsafePointer(to: zero) { body($0) }
    }
}

/// An output buffer that grows geometrically but never beyond `limit` bytes of content.
struct BoundedOutput {
    let codec: CompressionCodec
    let limit: Int
    var buffer: ByteBuffer

    init(codec: CompressionCodec, limit: Int, expected: Int) {
        self.codec = codec
        // Clamped so that `limit + 1` cannot overflow when a caller passes Int.max for "no limit".
        self.limit = min(max(0, limit), Int.max - 1)
        buffer = ByteBuffer()
        buffer.reserveCapacity(min(self.limit + 1, max(expected, 4096)))
    }

    /// Lets `body` write into the free space (at least one byte) and returns after it did.
    /// Throws once the content would exceed the limit. One byte beyond the limit is allowed to
    /// be allocated so that "exactly at the limit" and "over the limit" can be told apart.
    mutating func write(_ body: (UnsafeMutableRawBufferPointer) -> Int) throws(RecordBatchError) {
        if buffer.writableBytes == 0 {
            let ceiling = limit + 1
            guard buffer.capacity < ceiling else { throw .decompressedTooLarge(codec, limit: limit) }
            buffer.reserveCapacity(min(ceiling, max(buffer.capacity * 2, 4096)))
        }
        // The allocator rounds capacities up; never offer more than one byte beyond the limit.
        let allowed = limit + 1 - buffer.readableBytes
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { space in
            body(UnsafeMutableRawBufferPointer(rebasing: space.prefix(allowed)))
        }
        guard buffer.readableBytes <= limit else { throw .decompressedTooLarge(codec, limit: limit) }
    }
}
