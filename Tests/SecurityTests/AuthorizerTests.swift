import Foundation
import KafkaProtocol
import XCTest
@testable import Security

final class AuthorizerTests: XCTestCase {
    let alice = KafkaPrincipal.user("alice"), bob = KafkaPrincipal.user("bob"), admin = KafkaPrincipal.user("admin")

    func allow(
        _ p: String, _ op: AclOperation, _ type: AclResourceType, _ name: String, _ pt: AclPatternType = .literal,
        host: String = "*"
    ) -> AclBinding {
        AclBinding(
            ResourcePattern(type, name, pt),
            AccessControlEntry(principal: p, host: host, operation: op, permission: .allow))
    }

    func deny(
        _ p: String, _ op: AclOperation, _ type: AclResourceType, _ name: String, _ pt: AclPatternType = .literal,
        host: String = "*"
    ) -> AclBinding {
        AclBinding(
            ResourcePattern(type, name, pt),
            AccessControlEntry(principal: p, host: host, operation: op, permission: .deny))
    }

    func testTranscript() throws {
        let store = AclStore.inMemory()
        let auth = Authorizer(store: store, configuration: .init(superUsers: [admin]))
        func can(_ p: KafkaPrincipal, _ op: AclOperation, _ r: AclResource, host: String = "10.0.0.1") -> Bool {
            auth.authorize(principal: p, host: host, operation: op, resource: r)
        }
        // No ACL → denied (allow.everyone.if.no.acl.found is off); super user always allowed.
        XCTAssertFalse(can(alice, .read, .topic("orders")))
        XCTAssertTrue(can(admin, .alter, .cluster))

        _ = try store.create([
            allow("User:alice", .read, .topic, "orders"),
            allow("User:alice", .write, .topic, "logs-", .prefixed),
            allow("User:*", .describe, .topic, "public", host: "10.0.0.9"),
            allow("User:bob", .all, .topic, "*"),
            deny("User:bob", .write, .topic, "secret"),
            allow("User:alice", .alterConfigs, .topic, "cfg"),
            allow("User:alice", .read, .group, "app")
        ])
        // Literal vs prefixed.
        XCTAssertTrue(can(alice, .read, .topic("orders")))
        XCTAssertFalse(can(alice, .read, .topic("orders2")))
        XCTAssertTrue(can(alice, .write, .topic("logs-app")))
        XCTAssertFalse(can(alice, .write, .topic("logs")))
        XCTAssertFalse(can(alice, .read, .topic("logs-app")))
        // Implied DESCRIBE (read/write) but not the reverse; ALTER_CONFIGS implies DESCRIBE_CONFIGS.
        XCTAssertTrue(can(alice, .describe, .topic("orders")))
        XCTAssertTrue(can(alice, .describe, .topic("logs-x")))
        XCTAssertFalse(can(alice, .write, .topic("orders")))
        XCTAssertTrue(can(alice, .describeConfigs, .topic("cfg")))
        XCTAssertFalse(can(alice, .describe, .topic("cfg")))
        // Wildcard principal with a host.
        XCTAssertTrue(can(.user("carol"), .describe, .topic("public"), host: "10.0.0.9"))
        XCTAssertFalse(can(.user("carol"), .describe, .topic("public"), host: "10.0.0.8"))
        // Wildcard resource + ALL, and deny wins.
        XCTAssertTrue(can(bob, .write, .topic("anything")))
        XCTAssertTrue(can(bob, .read, .topic("secret")))
        XCTAssertFalse(can(bob, .write, .topic("secret")))
        // Deny ALL on a prefix beats a literal allow.
        _ = try store.create([deny("User:alice", .all, .topic, "ord", .prefixed)])
        XCTAssertFalse(can(alice, .read, .topic("orders")))
        // Groups are a separate resource type.
        XCTAssertTrue(can(alice, .read, .group("app")))
        XCTAssertFalse(can(alice, .read, .topic("app")))
        XCTAssertFalse(can(alice, .read, .cluster))
        // allow.everyone.if.no.acl.found only applies where no ACL exists at all.
        let lax = Authorizer(store: store, configuration: .init(allowEveryoneIfNoAclFound: true))
        XCTAssertTrue(lax.authorize(principal: alice, host: "h", operation: .write, resource: .group("other")))
        XCTAssertFalse(lax.authorize(principal: alice, host: "h", operation: .write, resource: .group("app")))
    }

    /// KIP-679's `authorizeByResourceType`: WRITE on at least one topic, unless a deny overrides it.
    func testAuthorizeByResourceType() throws {
        let store = AclStore.inMemory()
        let auth = Authorizer(store: store, configuration: .init(superUsers: [admin]))
        func anyTopic(_ p: KafkaPrincipal, _ op: AclOperation = .write, host: String = "10.0.0.1") -> Bool {
            auth.authorizeByResourceType(principal: p, host: host, operation: op, resourceType: .topic)
        }
        // Nothing at all: denied, but super users pass.
        XCTAssertFalse(anyTopic(alice))
        XCTAssertTrue(anyTopic(admin))

        // A literal allow; implied operations do not count (READ does not give WRITE, WRITE gives
        // no DESCRIBE here either: only the operation itself or ALL).
        _ = try store.create([allow("User:alice", .write, .topic, "orders"), allow("User:bob", .read, .topic, "orders")]
        )
        XCTAssertTrue(anyTopic(alice))
        XCTAssertFalse(anyTopic(alice, .describe))
        XCTAssertFalse(anyTopic(bob))
        // Other resource types do not count.
        _ = try store.create([allow("User:bob", .write, .transactionalId, "tx"), allow("User:bob", .write, .group, "g")]
        )
        XCTAssertFalse(anyTopic(bob))

        // A deny on the same literal, or on a prefix of it, overrides the literal allow.
        _ = try store.create([deny("User:alice", .write, .topic, "orders")])
        XCTAssertFalse(anyTopic(alice))
        _ = try store.create([allow("User:alice", .write, .topic, "logs-app")])
        XCTAssertTrue(anyTopic(alice))
        _ = try store.create([deny("User:alice", .write, .topic, "logs", .prefixed)])
        XCTAssertFalse(anyTopic(alice), "deny prefix logs covers logs-app")

        // A prefixed allow is overridden only by a deny prefix of it (not by a literal deny of
        // the same name, which covers one topic only).
        _ = try store.create([
            allow("User:carol", .all, .topic, "metrics-", .prefixed),
            deny("User:carol", .write, .topic, "metrics-", .literal)
        ])
        XCTAssertTrue(anyTopic(.user("carol")), "ALL counts; the literal deny leaves metrics-x writable")
        _ = try store.create([deny("User:carol", .all, .topic, "met", .prefixed)])
        XCTAssertFalse(anyTopic(.user("carol")))
        // A longer deny prefix does not cover the whole allowed prefix.
        _ = try store.create([
            allow("User:dave", .write, .topic, "a-", .prefixed),
            deny("User:dave", .write, .topic, "a-secret", .prefixed)
        ])
        XCTAssertTrue(anyTopic(.user("dave")))

        // Principal and host matching: `User:*` and `*` apply, another host does not.
        _ = try store.create([allow("User:*", .write, .topic, "shared", host: "10.0.0.9")])
        XCTAssertTrue(anyTopic(.user("erin"), host: "10.0.0.9"))
        XCTAssertFalse(anyTopic(.user("erin"), host: "10.0.0.8"))

        // The wildcard resource: an allow on `*` allows; a deny on `*` denies whatever else.
        _ = try store.create([
            allow("User:frank", .write, .topic, "*"), deny("User:frank", .write, .topic, "x", .prefixed)
        ])
        XCTAssertTrue(anyTopic(.user("frank")))
        _ = try store.create([
            allow("User:gina", .write, .topic, "g1"), deny("User:*", .all, .topic, "*", host: "10.6.6.6")
        ])
        XCTAssertTrue(anyTopic(.user("gina")))
        XCTAssertFalse(anyTopic(.user("gina"), host: "10.6.6.6"))
        XCTAssertTrue(anyTopic(admin, host: "10.6.6.6"), "super users pass whatever the denies")

        // allow.everyone.if.no.acl.found: allowed unless a wildcard deny (as Kafka's AclAuthorizer).
        let lax = Authorizer(store: store, configuration: .init(allowEveryoneIfNoAclFound: true))
        XCTAssertTrue(
            lax.authorizeByResourceType(principal: .user("nobody"), host: "h", operation: .write, resourceType: .topic))
        XCTAssertFalse(
            lax.authorizeByResourceType(
                principal: .user("nobody"), host: "10.6.6.6", operation: .write, resourceType: .topic))
    }

    func testAuthorizeByResourceTypeAuditsDenials() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)/audit.log")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let log = try AuditLog(url: url, clock: { Date(timeIntervalSince1970: 1_700_000_000) })
        let auth = Authorizer(store: .inMemory(), auditLog: log)
        XCTAssertFalse(
            auth.authorizeByResourceType(
                principal: alice, host: "h", operation: .write, resourceType: .topic,
                api: "InitProducerId"))
        XCTAssertFalse(
            auth.authorizeByResourceType(
                principal: alice, host: "h", operation: .write, resourceType: .topic, audit: false))
        log.close()
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 1)
        let event = try JSONDecoder().decode(AuditEvent.self, from: Data(lines[0].utf8))
        XCTAssertEqual(event.operation, "WRITE")
        XCTAssertEqual(event.resource, "TOPIC:*")
        XCTAssertEqual(event.api, "InitProducerId")
    }

    func testFiltersForDescribeAndDelete() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("acl-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try AclStore(url: url)
        let a = allow("User:alice", .read, .topic, "orders")
        let b = allow("User:bob", .write, .topic, "ord", .prefixed)
        let c = allow("User:*", .read, .topic, "*")
        let d = deny("User:alice", .read, .group, "orders")
        XCTAssertEqual(try store.create([a, b, c, d, a]).map(\.errorCode), [.none, .none, .none, .none, .none])
        XCTAssertEqual(store.count, 4)
        XCTAssertEqual(
            try store.create([
                allow("alice", .read, .topic, "x"), allow("User:a", .read, .cluster, "x"),
                allow("User:a", .any, .topic, "x"), allow("User:a", .read, .topic, "x", .match)
            ]).map(\.errorCode),
            Array(repeating: .invalidRequest, count: 4))

        func describe(_ f: AclBindingFilter) -> Set<AclBinding> { Set(store.describe(f)) }
        XCTAssertEqual(describe(.any), [a, b, c, d])
        XCTAssertEqual(describe(.init(.init(.topic, "orders", .literal))), [a])
        XCTAssertEqual(describe(.init(.init(.any, "orders", .any))), [a, d])
        XCTAssertEqual(describe(.init(.init(.topic, "orders", .match))), [a, b, c])
        XCTAssertEqual(describe(.init(.init(.topic, nil, .prefixed))), [b])
        XCTAssertEqual(describe(.init(.init(), .init(principal: "User:alice"))), [a, d])
        XCTAssertEqual(describe(.init(.init(), .init(permission: .deny))), [d])
        XCTAssertEqual(describe(.init(.init(), .init(operation: .write))), [b])

        let deleted = try store.delete([
            .init(.init(.topic, "orders", .match), .init(principal: "User:alice")),
            .init(.init(.unknown))
        ])
        XCTAssertEqual(deleted[0].deleted, [a])
        XCTAssertEqual(deleted[1].errorCode, .invalidRequest)
        let reopened = try AclStore(url: url)
        XCTAssertEqual(Set(reopened.describe(.any)), [b, c, d])
    }

    func testAuditLinesAreJSON() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)/audit.log")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        let log = try AuditLog(url: url, clock: { Date(timeIntervalSince1970: 1_700_000_000.5) })
        let auth = Authorizer(store: .inMemory(), auditLog: log)
        XCTAssertFalse(
            auth.authorize(
                principal: alice, host: "10.1.1.1", operation: .write, resource: .topic("t\"x\n"), api: "Produce"))
        XCTAssertFalse(
            auth.authorize(
                principal: alice, host: "10.1.1.1", operation: .describe, resource: .group("g"), audit: false))
        _ = try auth.createAcls([allow("User:bob", .read, .topic, "t")], by: admin, host: "10.2.2.2")
        _ = try auth.deleteAcls([.any], by: admin, host: "10.2.2.2")
        let admin = self.admin
        DispatchQueue.concurrentPerform(iterations: 50) { i in
            log.admin(
                principal: admin, host: "h", api: "AlterUserScramCredentials", action: "UPSERT_SCRAM",
                resource: "USER:u\(i)", success: true)
        }
        log.close()
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 53)
        let events = try lines.map { try JSONDecoder().decode(AuditEvent.self, from: Data($0.utf8)) }
        XCTAssertEqual(
            events[0],
            AuditEvent(
                time: "2023-11-14T22:13:20.500Z", kind: .denied, principal: "User:alice", host: "10.1.1.1",
                api: "Produce", operation: "WRITE", resource: "TOPIC:t\"x\n", result: "DENIED"))
        XCTAssertEqual(events[1].kind, .admin)
        XCTAssertEqual(events[1].operation, "CREATE_ACL")
        XCTAssertEqual(events[1].principal, "User:admin")
        XCTAssertEqual(events[2].operation, "DELETE_ACL")
        let object = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        for key in ["time", "kind", "principal", "host", "api", "operation", "resource", "result"] {
            XCTAssertNotNil(object[key], key)
        }
    }

    func testApiTable() {
        let produce = ApiAuthorizationTable.authorization(for: .produce)
        XCTAssertEqual(produce.checks.first, AclCheck(.write, .topic))
        XCTAssertEqual(produce.checks.first?.deniedError.rawValue, 29)
        XCTAssertFalse(
            produce.checks.contains { $0.operation == .idempotentWrite }, "no IDEMPOTENT_WRITE on Produce since KIP-679"
        )
        XCTAssertEqual(
            ApiAuthorizationTable.authorization(for: .initProducerId).checks.map(\.deniedError.rawValue), [53, 31])
        XCTAssertEqual(ApiAuthorizationTable.authorization(for: .joinGroup).checks.first?.deniedError.rawValue, 30)
        XCTAssertEqual(ApiAuthorizationTable.authorization(for: .createAcls).checks, [AclCheck(.alter, .cluster)])
        XCTAssertEqual(ApiAuthorizationTable.authorization(for: .createAcls).checks.first?.deniedError.rawValue, 31)
        XCTAssertEqual(ApiAuthorizationTable.authorization(for: .saslHandshake).checks, [])
        XCTAssertEqual(KafkaErrorCode.saslAuthenticationFailed, 58)
        XCTAssertEqual(KafkaErrorCode.illegalSaslState, 34)
        XCTAssertEqual(KafkaErrorCode.unsupportedSaslMechanism, 33)
    }
}
