import CStraitCRC
import NIOCore

/// CRC-32C (Castagnoli), the checksum of record batch v2.
public enum CRC32C {
    /// True when the CPU's crc32 instruction is used.
    public static var usesHardware: Bool { strait_crc32c_hardware_available() != 0 }

    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        strait_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    public static func checksum<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt32 {
        if let crc = bytes.withContiguousStorageIfAvailable({ strait_crc32c(0, $0.baseAddress, $0.count) }) {
            return crc
        }
        return Array(bytes).withUnsafeBytes { strait_crc32c(0, $0.baseAddress, $0.count) }
    }

    /// Checksum of `length` readable bytes of `buffer` starting at absolute index `index`.
    public static func checksum(_ buffer: ByteBuffer, at index: Int, length: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { raw in
            let start = index - buffer.readerIndex
            return strait_crc32c(0, raw.baseAddress! + start, length)
        }
    }

    /// The slower table implementation (for tests and the CRC benchmark).
    public static func tableChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        strait_crc32c_table(0, bytes.baseAddress, bytes.count)
    }
}
