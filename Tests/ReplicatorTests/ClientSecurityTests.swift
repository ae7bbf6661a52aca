import Foundation
import KafkaClient
import Replicator
import Topology
import XCTest

/// `KafkaClientConfiguration.applySecurity`: the mapping links and `strait groups` share.
final class ClientSecurityTests: XCTestCase {
    func testPlaintextAndSaslWithThePasswordReadNow() throws {
        var configuration = KafkaClientConfiguration()
        try configuration.applySecurity(SecuritySettings())
        XCTAssertEqual(configuration.securityProtocol, .plaintext)
        XCTAssertNil(configuration.tls)
        XCTAssertNil(configuration.sasl)

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString)")
        try "s3cret\nignored second line\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var settings = SecuritySettings()
        settings.securityProtocol = .saslPlaintext
        settings.saslMechanism = .scramSHA256
        settings.username = "mirror"
        settings.password = SecretReference(source: .file(file.path))
        try configuration.applySecurity(settings)
        XCTAssertEqual(configuration.securityProtocol, .saslPlaintext)
        XCTAssertEqual(configuration.sasl?.mechanism.rawValue, "SCRAM-SHA-256")
        XCTAssertEqual(configuration.sasl?.username, "mirror")
        XCTAssertEqual(configuration.sasl?.password, "s3cret")
        XCTAssertFalse("\(configuration.sasl!)".contains("s3cret"))
    }

    func testProblemsNameTheFileOrVariableNeverTheSecret() {
        var configuration = KafkaClientConfiguration()
        var settings = SecuritySettings()
        settings.securityProtocol = .ssl
        settings.caFile = "/nonexistent/ca.pem"
        XCTAssertThrowsError(try configuration.applySecurity(settings)) { error in
            XCTAssertTrue("\(error)".hasPrefix("TLS: "), "\(error)")
            XCTAssertTrue("\(error)".contains("/nonexistent/ca.pem"), "\(error)")
        }
        settings = SecuritySettings()
        settings.securityProtocol = .saslPlaintext
        settings.saslMechanism = .plain
        settings.username = "u"
        settings.password = SecretReference(source: .environment("STRAIT_TEST_UNSET_\(UUID().uuidString.prefix(8))"))
        XCTAssertThrowsError(try configuration.applySecurity(settings)) { error in
            XCTAssertTrue("\(error)".contains("environment variable STRAIT_TEST_UNSET_"), "\(error)")
        }
        settings.password = nil
        XCTAssertThrowsError(try configuration.applySecurity(settings)) { error in
            XCTAssertTrue("\(error)".contains("SASL needs"), "\(error)")
        }
    }
}
