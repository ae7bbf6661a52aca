import NIOCore

// Variable-length integers.
//
// UNSIGNED_VARINT: 7 bits per byte, least significant group first; the high bit of each byte says
// "more bytes follow". A 32-bit value takes at most 5 bytes, a 64-bit value at most 10.
// VARINT / VARLONG (used inside records): ZigZag-encoded signed values, then the same layout.

extension ByteBuffer {
    /// Reads an unsigned varint of at most 5 bytes. Bits beyond 32 in the fifth byte are ignored.
    public mutating func readUnsignedVarint32(what: String) throws -> UInt32 {
        var result: UInt32 = 0
        var index = self.readerIndex
        for shift in stride(from: 0, through: 28, by: 7) {
            guard let byte = self.getInteger(at: index, as: UInt8.self) else {
                throw KafkaDecodingError.truncated(what: what)
            }
            index += 1
            result |= UInt32(truncatingIfNeeded: byte & 0x7F) << UInt32(shift)
            if byte & 0x80 == 0 {
                self.moveReaderIndex(to: index)
                return result
            }
        }
        throw KafkaDecodingError.varintTooLong
    }

    /// Reads an unsigned varint of at most 10 bytes.
    public mutating func readUnsignedVarint64(what: String) throws -> UInt64 {
        var result: UInt64 = 0
        var index = self.readerIndex
        for shift in stride(from: 0, through: 63, by: 7) {
            guard let byte = self.getInteger(at: index, as: UInt8.self) else {
                throw KafkaDecodingError.truncated(what: what)
            }
            index += 1
            result |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 {
                self.moveReaderIndex(to: index)
                return result
            }
        }
        throw KafkaDecodingError.varintTooLong
    }

    public mutating func writeUnsignedVarint32(_ value: UInt32) {
        self.writeUnsignedVarint64(UInt64(value))
    }

    public mutating func writeUnsignedVarint64(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.writeInteger(UInt8(truncatingIfNeeded: remaining))
    }

    /// Reads a ZigZag-encoded signed 32-bit varint (VARINT).
    public mutating func readVarint32(what: String) throws -> Int32 {
        let raw = try self.readUnsignedVarint32(what: what)
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Reads a ZigZag-encoded signed 64-bit varint (VARLONG).
    public mutating func readVarint64(what: String) throws -> Int64 {
        let raw = try self.readUnsignedVarint64(what: what)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func writeVarint32(_ value: Int32) {
        self.writeUnsignedVarint32(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    public mutating func writeVarint64(_ value: Int64) {
        self.writeUnsignedVarint64(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}

/// The number of bytes `writeUnsignedVarint64(value)` produces.
public func unsignedVarintSize(_ value: UInt64) -> Int {
    var size = 1
    var remaining = value >> 7
    while remaining != 0 {
        size += 1
        remaining >>= 7
    }
    return size
}
