import NIOCore

// Fixed-width Kafka primitives. Every integer is big-endian (network order); BOOLEAN is one byte
// (0 = false, anything else = true); FLOAT64 is an IEEE 754 double in big-endian byte order.

extension ByteBuffer {
    @inlinable
    mutating func readKafkaInteger<T: FixedWidthInteger>(as type: T.Type, what: String) throws -> T {
        guard let value = self.readInteger(endianness: .big, as: T.self) else {
            throw KafkaDecodingError.truncated(what: what)
        }
        return value
    }

    public mutating func readKafkaInt8(what: String) throws -> Int8 {
        try self.readKafkaInteger(as: Int8.self, what: what)
    }

    public mutating func readKafkaInt16(what: String) throws -> Int16 {
        try self.readKafkaInteger(as: Int16.self, what: what)
    }

    public mutating func readKafkaInt32(what: String) throws -> Int32 {
        try self.readKafkaInteger(as: Int32.self, what: what)
    }

    public mutating func readKafkaInt64(what: String) throws -> Int64 {
        try self.readKafkaInteger(as: Int64.self, what: what)
    }

    public mutating func readKafkaUInt16(what: String) throws -> UInt16 {
        try self.readKafkaInteger(as: UInt16.self, what: what)
    }

    public mutating func readKafkaUInt32(what: String) throws -> UInt32 {
        try self.readKafkaInteger(as: UInt32.self, what: what)
    }

    public mutating func readKafkaFloat64(what: String) throws -> Double {
        Double(bitPattern: try self.readKafkaInteger(as: UInt64.self, what: what))
    }

    public mutating func readKafkaBool(what: String) throws -> Bool {
        try self.readKafkaInteger(as: UInt8.self, what: what) != 0
    }

    public mutating func writeKafkaInt8(_ value: Int8) {
        self.writeInteger(value, endianness: .big)
    }

    public mutating func writeKafkaInt16(_ value: Int16) {
        self.writeInteger(value, endianness: .big)
    }

    public mutating func writeKafkaInt32(_ value: Int32) {
        self.writeInteger(value, endianness: .big)
    }

    public mutating func writeKafkaInt64(_ value: Int64) {
        self.writeInteger(value, endianness: .big)
    }

    public mutating func writeKafkaUInt16(_ value: UInt16) {
        self.writeInteger(value, endianness: .big)
    }

    public mutating func writeKafkaUInt32(_ value: UInt32) {
        self.writeInteger(value, endianness: .big)
    }

    public mutating func writeKafkaFloat64(_ value: Double) {
        self.writeInteger(value.bitPattern, endianness: .big)
    }

    public mutating func writeKafkaBool(_ value: Bool) {
        self.writeInteger(value ? UInt8(1) : UInt8(0))
    }

    /// UUID: 16 bytes, the most significant 64 bits first.
    public mutating func readKafkaUUID(what: String) throws -> KafkaUUID {
        guard let high = self.getInteger(at: self.readerIndex, endianness: .big, as: UInt64.self),
            let low = self.getInteger(at: self.readerIndex + 8, endianness: .big, as: UInt64.self)
        else {
            throw KafkaDecodingError.truncated(what: what)
        }
        self.moveReaderIndex(forwardBy: 16)
        return KafkaUUID(high: high, low: low)
    }

    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        self.writeInteger(value.high, endianness: .big)
        self.writeInteger(value.low, endianness: .big)
    }
}
