import BrokerCore
import Foundation
import KafkaProtocol
import Security
import XCTest

/// InitProducerId with `acl-authorizer: true`: an idempotent producer needs IDEMPOTENT_WRITE on
/// the cluster or (KIP-679) WRITE on any topic; a transactional one WRITE on its id.
final class InitProducerIdAuthorizationTests: XCTestCase {
    private func harness(as user: String) throws -> BrokerHarness {
        var config = BrokerConfig()
        config.aclAuthorizer = true
        config.superUsers = ["User:admin"]
        let client = try BrokerHarness(config: config)
        client.connection = ConnectionContext(
            id: 7, remoteAddress: "10.0.0.1:5000", remoteHost: "10.0.0.1",
            session: ConnectionSession(principal: .user(user)))
        return client
    }

    private func grant(_ client: BrokerHarness, _ binding: AclBinding) throws {
        let results = try XCTUnwrap(client.broker.authorizer).store.create([binding])
        XCTAssertEqual(results.map(\.errorCode), [.none])
    }

    private func initProducerId(_ client: BrokerHarness, transactionalId: String? = nil) async throws
        -> InitProducerIdResponse
    {
        try await client.send(
            InitProducerIdRequest(transactionalId: transactionalId, transactionTimeoutMs: 60000), version: 4)
    }

    func testWriteOnAnyTopicAllowsAnIdempotentProducer() async throws {
        let client = try harness(as: "writer")
        let denied = try await initProducerId(client)
        XCTAssertEqual(denied.errorCode, 31, "CLUSTER_AUTHORIZATION_FAILED without any ACL")
        XCTAssertEqual(denied.producerId, -1)

        // READ and DESCRIBE on a topic are not enough.
        try grant(
            client,
            AclBinding(
                ResourcePattern(.topic, "orders"),
                AccessControlEntry(principal: "User:writer", operation: .read, permission: .allow)))
        let stillDenied = try await initProducerId(client)
        XCTAssertEqual(stillDenied.errorCode, 31)

        try grant(
            client,
            AclBinding(
                ResourcePattern(.topic, "orders-", .prefixed),
                AccessControlEntry(principal: "User:writer", operation: .write, permission: .allow)))
        let allowed = try await initProducerId(client)
        XCTAssertEqual(allowed.errorCode, 0)
        XCTAssertGreaterThanOrEqual(allowed.producerId, 0)

        // A deny on a prefix of the allowed prefix takes it back.
        try grant(
            client,
            AclBinding(
                ResourcePattern(.topic, "ord", .prefixed),
                AccessControlEntry(principal: "User:writer", operation: .write, permission: .deny)))
        let deniedAgain = try await initProducerId(client)
        XCTAssertEqual(deniedAgain.errorCode, 31)
    }

    func testIdempotentWriteOnTheClusterStillAllows() async throws {
        let client = try harness(as: "legacy")
        try grant(
            client,
            AclBinding(
                ResourcePattern(.cluster, AclResource.clusterName),
                AccessControlEntry(principal: "User:legacy", operation: .idempotentWrite, permission: .allow)))
        let response = try await initProducerId(client)
        XCTAssertEqual(response.errorCode, 0)
    }

    func testTransactionalIdNeedsWriteOnTheId() async throws {
        let client = try harness(as: "writer")
        try grant(
            client,
            AclBinding(
                ResourcePattern(.topic, "*"),
                AccessControlEntry(principal: "User:writer", operation: .write, permission: .allow)))
        let denied = try await initProducerId(client, transactionalId: "tx-1")
        XCTAssertEqual(denied.errorCode, 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED: WRITE on topics is not enough")
        try grant(
            client,
            AclBinding(
                ResourcePattern(.transactionalId, "tx-1"),
                AccessControlEntry(principal: "User:writer", operation: .write, permission: .allow)))
        let authorized = try await initProducerId(client, transactionalId: "tx-1")
        XCTAssertEqual(
            authorized.errorCode, 53, "authorized, then refused all the same: this broker has no transactions")
    }

    func testSuperUsersAndNoAuthorizer() async throws {
        let admin = try harness(as: "admin")
        let asAdmin = try await initProducerId(admin)
        XCTAssertEqual(asAdmin.errorCode, 0)
        let open = try BrokerHarness()
        let unchecked = try await open.send(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 1), version: 4)
        XCTAssertEqual(unchecked.errorCode, 0)
    }
}
