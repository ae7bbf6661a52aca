import NIOCore

// Signed zig-zag varints as used inside record batches v2 (not the protocol's UNSIGNED_VARINT).
//
// Zig-zag maps n to (n << 1) ^ (n >> 31) (>> 63 for 64 bits), so small magnitudes of either sign
// stay short; the result is written in base-128 groups, least significant first, bit 7 set on
// every byte but the last. A varint takes at most 5 bytes, a varlong at most 10.
// Examples: 0 -> 00, -1 -> 01, 1 -> 02, 64 -> 80 01.
//
// Decoding is strict: a value that does not end within 5 (10) bytes, or whose last byte carries
// bits beyond 32 (64), is refused as overlong.

/// Raw-pointer varint primitives shared by the ByteBuffer API, the decoder and the validator.
enum VarintCoding {
    /// Reads a zig-zag varint from `bytes[index..<end]`, advancing `index`.
    @inline(__always)
    static func readVarint(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, end: Int) throws(RecordBatchError)
        -> Int32
    {
        var raw: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard index < end else { throw .corruptRecords("varint truncated") }
            let byte = bytes[index]
            index &+= 1
            if shift == 28 {
                // Fifth byte: only 4 payload bits left and no continuation allowed.
                guard byte & 0xF0 == 0 else { throw .corruptRecords("varint longer than 5 bytes or out of range") }
                raw |= UInt32(byte) << 28
                break
            }
            raw |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift &+= 7
        }
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Reads a zig-zag varlong from `bytes[index..<end]`, advancing `index`.
    @inline(__always)
    static func readVarlong(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, end: Int) throws(RecordBatchError)
        -> Int64
    {
        var raw: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < end else { throw .corruptRecords("varlong truncated") }
            let byte = bytes[index]
            index &+= 1
            if shift == 63 {
                // Tenth byte: a single payload bit left and no continuation allowed.
                guard byte & 0xFE == 0 else { throw .corruptRecords("varlong longer than 10 bytes or out of range") }
                raw |= UInt64(byte) << 63
                break
            }
            raw |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift &+= 7
        }
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Writes the base-128 groups of `raw` (already zig-zag encoded) and returns the byte count.
    @inline(__always)
    static func writeUnsigned(_ raw: UInt64, to bytes: UnsafeMutableRawBufferPointer) -> Int {
        var value = raw
        var index = 0
        while value >= 0x80 {
            bytes[index] = UInt8(truncatingIfNeeded: value) | 0x80
            value >>= 7
            index += 1
        }
        bytes[index] = UInt8(value)
        return index + 1
    }

    @inline(__always)
    static func zigZag(_ value: Int32) -> UInt64 { UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))) }

    @inline(__always)
    static func zigZag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

    @inline(__always)
    static func unsignedSize(_ raw: UInt64) -> Int {
        // Each byte holds 7 bits; zero still takes one byte.
        let bits = 64 - (raw | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }
}

extension ByteBuffer {
    /// Reads a zig-zag varint (int32), as used for record lengths and deltas.
    /// On error the reader index does not move.
    public mutating func readVarint() throws(RecordBatchError) -> Int32 {
        let result: Result<(Int32, Int), RecordBatchError> = withUnsafeReadableBytes { bytes in
            Result { () throws(RecordBatchError) in
                var index = 0
                let value = try VarintCoding.readVarint(bytes, &index, end: bytes.count)
                return (value, index)
            }
        }
        let (value, length) = try result.get()
        moveReaderIndex(forwardBy: length)
        return value
    }

    /// Reads a zig-zag varlong (int64), as used for timestamp deltas.
    /// On error the reader index does not move.
    public mutating func readVarlong() throws(RecordBatchError) -> Int64 {
        let result: Result<(Int64, Int), RecordBatchError> = withUnsafeReadableBytes { bytes in
            Result { () throws(RecordBatchError) in
                var index = 0
                let value = try VarintCoding.readVarlong(bytes, &index, end: bytes.count)
                return (value, index)
            }
        }
        let (value, length) = try result.get()
        moveReaderIndex(forwardBy: length)
        return value
    }

    /// Writes a zig-zag varint and returns the number of bytes written (1...5).
    @discardableResult
    public mutating func writeVarint(_ value: Int32) -> Int {
        let raw = VarintCoding.zigZag(value)
        return writeWithUnsafeMutableBytes(minimumWritableBytes: 5) { VarintCoding.writeUnsigned(raw, to: $0) }
    }

    /// Writes a zig-zag varlong and returns the number of bytes written (1...10).
    @discardableResult
    public mutating func writeVarlong(_ value: Int64) -> Int {
        let raw = VarintCoding.zigZag(value)
        return writeWithUnsafeMutableBytes(minimumWritableBytes: 10) { VarintCoding.writeUnsigned(raw, to: $0) }
    }

    /// Encoded size of a zig-zag varint (1...5).
    public static func varintSize(_ value: Int32) -> Int { VarintCoding.unsignedSize(VarintCoding.zigZag(value)) }

    /// Encoded size of a zig-zag varlong (1...10).
    public static func varlongSize(_ value: Int64) -> Int { VarintCoding.unsignedSize(VarintCoding.zigZag(value)) }
}
