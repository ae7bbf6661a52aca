import XCTest
import NIOCore
@testable import KafkaRecords

final class CRC32CTests: XCTestCase {
    func testKnownVector() {
        // RFC 3720 B.4: CRC-32C of "123456789" is 0xE3069283.
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        let bytes = Array("123456789".utf8)
        bytes.withUnsafeBytes { XCTAssertEqual(CRC32C.tableChecksum($0), 0xE306_9283) }
    }

    func testHardwareAndTableAgreeOnEveryLengthAndAlignment() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { raw in
            for start in 0..<9 {
                for length in [0, 1, 7, 8, 9, 63, 64, 1000, 4000] where start + length <= raw.count {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                    XCTAssertEqual(
                        CRC32C.checksum(slice), CRC32C.tableChecksum(slice), "start \(start) length \(length)")
                }
            }
        }
    }
}
