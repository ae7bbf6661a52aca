import Foundation
import XCTest
@testable import Security

final class StoreTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("strait-security-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testScramStorePersistsAcrossReopenWithoutPasswords() throws {
        let url = dir.appendingPathComponent("scram.json")
        let store = try FileScramCredentialStore(url: url)
        let salt = Crypto.randomBytes(16)
        let salted = Crypto.pbkdf2(.sha512, password: Array("pw-512".utf8), salt: salt, iterations: 8192)
        let results = store.alter(
            deletions: [],
            upsertions: [
                ScramUpsertion(user: "alice", mechanism: 2, iterations: 8192, salt: salt, saltedPassword: salted),
                ScramUpsertion(user: "bob", mechanism: 1, iterations: 4096, salt: salt, saltedPassword: salted)
            ])
        XCTAssertEqual(results.map(\.errorCode), [.none, .none])
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertFalse(text.contains("pw-512"))
        XCTAssertFalse(text.contains(Data(salted).base64EncodedString()))

        let reopened = try FileScramCredentialStore(url: url)
        XCTAssertEqual(
            reopened.credential(user: "alice", mechanism: .sha512),
            ScramCredential(mechanism: .sha512, salt: salt, iterations: 8192, saltedPassword: salted))
        XCTAssertEqual(reopened.describe(users: nil).map(\.user), ["alice", "bob"])
        XCTAssertEqual(
            reopened.describe(users: ["alice"]).first?.credentials,
            [ScramCredentialInfo(mechanism: .sha512, iterations: 8192)])

        // A client authenticates against the reopened store with the password the salted one came from.
        var s = SaslServerSession(
            configuration: SaslServerConfiguration(enabledMechanisms: [.scramSha512], scramCredentials: reopened))
        _ = s.handshake(mechanism: "SCRAM-SHA-512")
        var client = ScramClient(mechanism: .sha512, user: "alice", password: "pw-512")
        guard case let .challenge(sf) = s.authenticate(client.clientFirst()) else { return XCTFail() }
        guard case .success = s.authenticate(try client.clientFinal(serverFirst: sf)) else { return XCTFail() }

        XCTAssertEqual(
            reopened.alter(deletions: [ScramDeletion(user: "bob", mechanism: 1)], upsertions: []).map(\.errorCode),
            [.none])
        XCTAssertEqual(try FileScramCredentialStore(url: url).describe(users: nil).map(\.user), ["alice"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("tmp") }
        XCTAssertEqual(leftovers, [])
    }

    func testScramAlterAndDescribeErrors() throws {
        let store = FileScramCredentialStore.inMemory()
        let r = store.alter(
            deletions: [ScramDeletion(user: "nobody", mechanism: 1), ScramDeletion(user: "x", mechanism: 9)],
            upsertions: [
                ScramUpsertion(user: "low", mechanism: 1, iterations: 100, salt: [1], saltedPassword: [2]),
                ScramUpsertion(user: "high", mechanism: 1, iterations: 20000, salt: [1], saltedPassword: [2]),
                ScramUpsertion(user: "", mechanism: 1, iterations: 4096, salt: [1], saltedPassword: [2]),
                ScramUpsertion(user: "dup", mechanism: 1, iterations: 4096, salt: [1], saltedPassword: [2]),
                ScramUpsertion(user: "dup", mechanism: 1, iterations: 4096, salt: [1], saltedPassword: [2])
            ])
        XCTAssertEqual(r.map(\.user), ["nobody", "x", "low", "high", "", "dup"])
        XCTAssertEqual(
            r.map(\.errorCode),
            [
                .resourceNotFound, .unsupportedSaslMechanism, .unacceptableCredential,
                .unacceptableCredential, .unacceptableCredential, .duplicateResource
            ])
        XCTAssertEqual(store.describe(users: nil), [])
        XCTAssertEqual(store.describe(users: ["a", "a", "b"]).map(\.errorCode), [.duplicateResource, .resourceNotFound])
    }

    func testPlainStorePersistsHashesOnly() throws {
        let url = dir.appendingPathComponent("plain.json")
        let store = try PlainCredentialStore(url: url)
        try store.setPassword(user: "bob", password: "hunter2")
        XCTAssertFalse(try String(contentsOf: url, encoding: .utf8).contains("hunter2"))
        let reopened = try PlainCredentialStore(url: url)
        XCTAssertTrue(reopened.verify(user: "bob", password: Array("hunter2".utf8)))
        XCTAssertFalse(reopened.verify(user: "bob", password: Array("hunter3".utf8)))
        XCTAssertFalse(reopened.verify(user: "eve", password: Array("hunter2".utf8)))
        XCTAssertTrue(try reopened.remove(user: "bob"))
        XCTAssertEqual(try PlainCredentialStore(url: url).userNames, [])
    }

    func testCorruptFileIsReported() throws {
        let url = dir.appendingPathComponent("acls.json")
        try Data("{not json".utf8).write(to: url)
        XCTAssertThrowsError(try AclStore(url: url))
        XCTAssertThrowsError(try FileScramCredentialStore(url: url))
    }
}
