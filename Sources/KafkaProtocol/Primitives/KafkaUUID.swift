/// A Kafka UUID (topic IDs, directory IDs): 128 bits, sent as 16 big-endian bytes, most
/// significant half first.
///
/// Its text form is Kafka's: the 16 bytes in URL-safe base64 without padding (22 characters).
public struct KafkaUUID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The all-zero UUID, Kafka's "no topic ID".
    public static let zero = KafkaUUID(high: 0, low: 0)

    /// A random version-4 UUID whose text form does not start with "-" (Kafka avoids those because
    /// they look like command-line options), and which is never `zero`.
    public static func random() -> KafkaUUID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> KafkaUUID {
        while true {
            var high = generator.next() as UInt64
            var low = generator.next() as UInt64
            high = (high & ~0xF000) | 0x4000  // version 4
            low = (low & ~(UInt64(0xC0) << 56)) | (UInt64(0x80) << 56)  // IETF variant
            let uuid = KafkaUUID(high: high, low: low)
            // The first base64 character is the top 6 bits; 62 encodes as "-".
            if high >> 58 != 62 {
                return uuid
            }
        }
    }

    /// The 16 bytes, big-endian.
    public var bytes: [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(16)
        for shift in stride(from: 56, through: 0, by: -8) {
            result.append(UInt8(truncatingIfNeeded: high >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            result.append(UInt8(truncatingIfNeeded: low >> UInt64(shift)))
        }
        return result
    }

    /// Builds a UUID from 16 big-endian bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// URL-safe base64 of the 16 bytes, without padding.
    public var description: String {
        let input = bytes
        var output = [UInt8]()
        output.reserveCapacity(22)
        var index = 0
        while index < input.count {
            let remaining = input.count - index
            let b0 = UInt32(input[index])
            let b1 = remaining > 1 ? UInt32(input[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(input[index + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            output.append(Self.alphabet[Int(group >> 18 & 0x3F)])
            output.append(Self.alphabet[Int(group >> 12 & 0x3F)])
            if remaining > 1 { output.append(Self.alphabet[Int(group >> 6 & 0x3F)]) }
            if remaining > 2 { output.append(Self.alphabet[Int(group & 0x3F)]) }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Parses Kafka's text form (URL-safe base64 of 16 bytes, padding optional).
    public init?(_ text: String) {
        var values = [UInt8]()
        for character in text.utf8 where character != UInt8(ascii: "=") {
            guard let value = Self.alphabet.firstIndex(of: character) else { return nil }
            values.append(UInt8(value))
        }
        guard values.count == 22 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(18)
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var group: UInt32 = 0
            for value in chunk { group = group << 6 | UInt32(value) }
            group <<= UInt32(6 * (4 - chunk.count))
            let produced = chunk.count - 1
            for byteIndex in 0..<produced {
                bytes.append(UInt8(truncatingIfNeeded: group >> UInt32(16 - 8 * byteIndex)))
            }
            index += 4
        }
        self.init(bytes: bytes)
    }
}
