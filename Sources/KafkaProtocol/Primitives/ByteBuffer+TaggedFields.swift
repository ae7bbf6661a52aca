import NIOCore

// Tagged-field section (ends every struct in a flexible version):
//
//   UNSIGNED_VARINT count
//   count × { UNSIGNED_VARINT tag, UNSIGNED_VARINT size, size bytes }
//
// Tags are written in ascending order. Readers skip tags they do not know.

extension ByteBuffer {
    /// Reads the number of tagged fields that follow.
    public mutating func readKafkaTaggedFieldCount(what: String) throws -> UInt32 {
        try self.readUnsignedVarint32(what: what)
    }

    /// Reads one tagged field's tag and returns its body as a slice (the reader moves past it).
    public mutating func readKafkaTaggedField(what: String) throws -> (tag: UInt32, body: ByteBuffer) {
        let tag = try self.readUnsignedVarint32(what: what)
        let size = Int(try self.readUnsignedVarint32(what: what))
        guard let body = self.readSlice(length: size) else {
            throw KafkaDecodingError.lengthTooLarge(what: what, size)
        }
        return (tag, body)
    }

    /// Reads a whole tagged-field section and discards every field in it.
    public mutating func skipKafkaTaggedFields(what: String) throws {
        let count = try self.readKafkaTaggedFieldCount(what: what)
        for _ in 0..<count {
            _ = try self.readKafkaTaggedField(what: what)
        }
    }

    /// Writes an empty tagged-field section (a single zero byte).
    public mutating func writeEmptyKafkaTaggedFields() {
        self.writeInteger(UInt8(0))
    }

    /// Writes one tagged field: its tag, the size of what `writeBody` writes, then those bytes.
    @inlinable
    public mutating func writeKafkaTaggedField(tag: UInt32, _ writeBody: (inout ByteBuffer) throws -> Void) rethrows {
        self.writeUnsignedVarint32(tag)
        let sizeIndex = self.writerIndex
        self.writeInteger(UInt8(0))  // Placeholder: correct whenever the body is shorter than 128 bytes.
        let bodyStart = self.writerIndex
        try writeBody(&self)
        let size = self.writerIndex - bodyStart
        if size < 0x80 {
            self.setInteger(UInt8(size), at: sizeIndex)
        } else {
            // The size needs more than one varint byte: move the body behind a longer prefix.
            var body = self.getSlice(at: bodyStart, length: size)!
            self.moveWriterIndex(to: sizeIndex)
            self.writeUnsignedVarint32(UInt32(size))
            self.writeBuffer(&body)
        }
    }
}
