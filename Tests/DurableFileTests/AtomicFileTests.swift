import DurableFile
import Foundation
import XCTest

final class AtomicFileTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testReplacesTheWholeFileAndLeavesNoTemporaryBehind() throws {
        let path = directory.appendingPathComponent("state.json").path
        try AtomicFile.write(Array("first, and longer".utf8), to: path)
        try AtomicFile.write(Array("second".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "second")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["state.json"])
    }

    func testAGivenTemporaryNameAndPermissionsAreUsed() throws {
        let path = directory.appendingPathComponent("users.json").path
        let temporary = directory.appendingPathComponent(".users.json.tmp-1").path
        try AtomicFile.write(Array("{}".utf8), to: path, temporaryPath: temporary, permissions: 0o600)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertFalse(FileManager.default.fileExists(atPath: temporary))
    }

    func testAFailureNamesTheStepThePathAndTheReason() {
        let path = directory.appendingPathComponent("missing/state.json").path
        XCTAssertThrowsError(try AtomicFile.write([1], to: path)) { error in
            XCTAssertEqual("\(error)", "open \(path).tmp: No such file or directory")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }
}
