import NIOCore

// ARRAY: INT32 element count (-1 = null), then the elements.
// COMPACT_ARRAY (flexible versions): UNSIGNED_VARINT count+1 (0 = null), then the elements.
//
// A count larger than the remaining bytes is rejected before anything is allocated (every
// element occupies at least one byte), the same rule Kafka itself applies.

extension ByteBuffer {
    /// Reads an array count. Returns nil for a null array.
    public mutating func readKafkaArrayCount(compact: Bool, what: String) throws -> Int? {
        try self.readKafkaLength(compact: compact, int16: false, what: what)
    }

    public mutating func writeKafkaArrayCount(_ count: Int?, compact: Bool, what: String = "array") throws {
        try self.writeKafkaLength(count, compact: compact, int16: false, what: what)
    }

    /// Reads a non-nullable array; a null array is rejected.
    @inlinable
    public mutating func readKafkaArray<Element>(
        compact: Bool,
        what: String,
        _ readElement: (inout ByteBuffer) throws -> Element
    ) throws -> [Element] {
        guard let array = try self.readKafkaNullableArray(compact: compact, what: what, readElement) else {
            throw KafkaDecodingError.unexpectedNull(what: what)
        }
        return array
    }

    /// Reads a nullable array (nil = null).
    @inlinable
    public mutating func readKafkaNullableArray<Element>(
        compact: Bool,
        what: String,
        _ readElement: (inout ByteBuffer) throws -> Element
    ) throws -> [Element]? {
        guard let count = try self.readKafkaLength(compact: compact, int16: false, what: what) else {
            return nil
        }
        var array = [Element]()
        array.reserveCapacity(count)
        for _ in 0..<count {
            array.append(try readElement(&self))
        }
        return array
    }

    @inlinable
    public mutating func writeKafkaArray<Element>(
        _ array: [Element],
        compact: Bool,
        what: String = "array",
        _ writeElement: (inout ByteBuffer, Element) throws -> Void
    ) throws {
        try self.writeKafkaLength(array.count, compact: compact, int16: false, what: what)
        for element in array {
            try writeElement(&self, element)
        }
    }

    @inlinable
    public mutating func writeKafkaNullableArray<Element>(
        _ array: [Element]?,
        compact: Bool,
        what: String = "array",
        _ writeElement: (inout ByteBuffer, Element) throws -> Void
    ) throws {
        guard let array else {
            try self.writeKafkaLength(nil, compact: compact, int16: false, what: what)
            return
        }
        try self.writeKafkaArray(array, compact: compact, what: what, writeElement)
    }
}

// Nullable struct: INT8 marker (-1 = null, 1 = present), then the struct.

extension ByteBuffer {
    @inlinable
    public mutating func writeKafkaNullableStruct<Value>(
        _ value: Value?,
        _ writeValue: (inout ByteBuffer, Value) throws -> Void
    ) rethrows {
        guard let value else {
            self.writeInteger(Int8(-1))
            return
        }
        self.writeInteger(Int8(1))
        try writeValue(&self, value)
    }
}
