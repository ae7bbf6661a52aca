import Security
import XCTest

/// A `Secret` never shows its value, however it is printed; `reveal()` is the only way in.
final class SecretTests: XCTestCase {
    struct Holder { var user: String; var password: Secret }

    func testEveryWayOfPrintingShowsRedacted() {
        let secret = Secret("hunter2")
        XCTAssertEqual("\(secret)", "<redacted>")
        XCTAssertEqual(String(describing: secret), "<redacted>")
        XCTAssertEqual(String(reflecting: secret), "<redacted>")
        var dumped = ""
        dump(secret, to: &dumped)
        XCTAssertFalse(dumped.contains("hunter2"), dumped)
        XCTAssertTrue(dumped.contains("<redacted>"), dumped)
    }

    func testAValueHoldingASecretPrintsItRedacted() {
        let holder = Holder(user: "alice", password: "hunter2")
        for text in ["\(holder)", String(reflecting: holder), "\([holder])", "\(Optional(holder) as Any)"] {
            XCTAssertFalse(text.contains("hunter2"), text)
            XCTAssertTrue(text.contains("<redacted>"), text)
        }
        var dumped = ""
        dump(holder, to: &dumped)
        XCTAssertFalse(dumped.contains("hunter2"), dumped)
    }

    func testRevealGivesTheValue() {
        XCTAssertEqual(Secret("hunter2").reveal(), "hunter2")
        XCTAssertEqual(Secret("a"), "a")
        XCTAssertNotEqual(Secret("a"), "b")
    }
}
