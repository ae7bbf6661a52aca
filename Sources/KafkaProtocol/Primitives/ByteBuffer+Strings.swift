import NIOCore

// Length-prefixed Kafka types.
//
// | type                  | classic length prefix        | compact length prefix (flexible) |
// |-----------------------|------------------------------|----------------------------------|
// | STRING                | INT16 N                      | UNSIGNED_VARINT N+1              |
// | NULLABLE_STRING       | INT16 N, -1 = null           | UNSIGNED_VARINT N+1, 0 = null    |
// | BYTES / NULLABLE_BYTES| INT32 N (-1 = null)          | UNSIGNED_VARINT N+1 (0 = null)   |
// | RECORDS               | INT32 N, -1 = null           | UNSIGNED_VARINT N+1, 0 = null    |
//
// Every declared length is checked against the readable bytes BEFORE anything is allocated.

extension ByteBuffer {
    /// Reads a length prefix and validates it against the remaining bytes.
    /// Returns nil for null (-1 classic, 0 compact).
    @inlinable
    mutating func readKafkaLength(compact: Bool, int16: Bool, what: String) throws -> Int? {
        let length: Int
        if compact {
            let raw = try self.readUnsignedVarint32(what: what)
            if raw == 0 { return nil }
            length = Int(raw) - 1
        } else if int16 {
            length = Int(try self.readKafkaInteger(as: Int16.self, what: what))
        } else {
            length = Int(try self.readKafkaInteger(as: Int32.self, what: what))
        }
        if length == -1 && !compact { return nil }
        if length < 0 { throw KafkaDecodingError.negativeLength(what: what, length) }
        if length > self.readableBytes { throw KafkaDecodingError.lengthTooLarge(what: what, length) }
        return length
    }

    @inlinable
    mutating func writeKafkaLength(_ length: Int?, compact: Bool, int16: Bool, what: String) throws {
        if compact {
            guard let length else {
                self.writeInteger(UInt8(0))
                return
            }
            guard length < Int(UInt32.max) else { throw KafkaEncodingError.valueTooLarge(what: what, length) }
            self.writeUnsignedVarint32(UInt32(length + 1))
        } else if int16 {
            guard let length else {
                self.writeInteger(Int16(-1), endianness: .big)
                return
            }
            guard length <= Int(Int16.max) else { throw KafkaEncodingError.valueTooLarge(what: what, length) }
            self.writeInteger(Int16(length), endianness: .big)
        } else {
            guard let length else {
                self.writeInteger(Int32(-1), endianness: .big)
                return
            }
            guard length <= Int(Int32.max) else { throw KafkaEncodingError.valueTooLarge(what: what, length) }
            self.writeInteger(Int32(length), endianness: .big)
        }
    }

    @inlinable
    mutating func readKafkaStringBody(length: Int, what: String) throws -> String {
        let decoded: String? = self.withUnsafeReadableBytes { raw in
            raw.withMemoryRebound(to: UInt8.self) { bytes in
                String(validating: UnsafeBufferPointer(rebasing: bytes[0..<length]), as: UTF8.self)
            }
        }
        guard let decoded else { throw KafkaDecodingError.invalidUTF8(what: what) }
        self.moveReaderIndex(forwardBy: length)
        return decoded
    }

    // MARK: Strings

    /// Reads a STRING (INT16 length) or COMPACT_STRING; a null is rejected.
    public mutating func readKafkaString(compact: Bool, what: String) throws -> String {
        guard let length = try self.readKafkaLength(compact: compact, int16: true, what: what) else {
            throw KafkaDecodingError.unexpectedNull(what: what)
        }
        return try self.readKafkaStringBody(length: length, what: what)
    }

    /// Reads a NULLABLE_STRING (INT16 length, -1 = null) or COMPACT_NULLABLE_STRING (0 = null).
    public mutating func readKafkaNullableString(compact: Bool, what: String) throws -> String? {
        guard let length = try self.readKafkaLength(compact: compact, int16: true, what: what) else {
            return nil
        }
        return try self.readKafkaStringBody(length: length, what: what)
    }

    public mutating func writeKafkaString(_ value: String, compact: Bool, what: String = "string") throws {
        try self.writeKafkaLength(value.utf8.count, compact: compact, int16: true, what: what)
        self.writeString(value)
    }

    public mutating func writeKafkaNullableString(_ value: String?, compact: Bool, what: String = "string") throws {
        guard let value else {
            try self.writeKafkaLength(nil, compact: compact, int16: true, what: what)
            return
        }
        try self.writeKafkaString(value, compact: compact, what: what)
    }

    // MARK: Bytes

    /// Reads BYTES (INT32 length) or COMPACT_BYTES; a null is rejected.
    public mutating func readKafkaBytes(compact: Bool, what: String) throws -> [UInt8] {
        guard let length = try self.readKafkaLength(compact: compact, int16: false, what: what) else {
            throw KafkaDecodingError.unexpectedNull(what: what)
        }
        return self.readBytes(length: length)!
    }

    /// Reads NULLABLE_BYTES (INT32 length, -1 = null) or COMPACT_NULLABLE_BYTES (0 = null).
    public mutating func readKafkaNullableBytes(compact: Bool, what: String) throws -> [UInt8]? {
        guard let length = try self.readKafkaLength(compact: compact, int16: false, what: what) else {
            return nil
        }
        return self.readBytes(length: length)!
    }

    public mutating func writeKafkaBytes(_ value: [UInt8], compact: Bool, what: String = "bytes") throws {
        try self.writeKafkaLength(value.count, compact: compact, int16: false, what: what)
        self.writeBytes(value)
    }

    public mutating func writeKafkaNullableBytes(_ value: [UInt8]?, compact: Bool, what: String = "bytes") throws {
        guard let value else {
            try self.writeKafkaLength(nil, compact: compact, int16: false, what: what)
            return
        }
        try self.writeKafkaBytes(value, compact: compact, what: what)
    }

    // MARK: Records

    /// Reads RECORDS (INT32 length, -1 = null) or COMPACT_RECORDS (0 = null) as a zero-copy slice
    /// of this buffer.
    public mutating func readKafkaRecords(compact: Bool, what: String) throws -> ByteBuffer? {
        guard let length = try self.readKafkaLength(compact: compact, int16: false, what: what) else {
            return nil
        }
        return self.readSlice(length: length)!
    }

    /// Writes RECORDS: the readable bytes of `value`, or null.
    public mutating func writeKafkaRecords(_ value: ByteBuffer?, compact: Bool, what: String = "records") throws {
        guard let value else {
            try self.writeKafkaLength(nil, compact: compact, int16: false, what: what)
            return
        }
        try self.writeKafkaLength(value.readableBytes, compact: compact, int16: false, what: what)
        self.writeImmutableBuffer(value)
    }
}
