import Foundation
import KafkaProtocol
import XCTest
@testable import Security

final class AuthorizerTests: XCTestCase {
    let alice = KafkaPrincipal.user("alice"), bob = KafkaPrincipal.user("bob"), admin = KafkaPrincipal.user("admin")

    func allow(_ p: String, _ op: AclOperation, _ type: AclResourceType, _ name: String, _ pt: AclPatternType = .literal, host: String = "*") -> AclBinding {
        AclBinding(ResourcePattern(type, name, pt), AccessControlEntry(principal: p, host: host, operation: op, permission: .allow))
    }

    func deny(_ p: String, _ op: AclOperation, _ type: AclResourceType, _ name: String, _ pt: AclPatternType = .literal, host: String = "*") -> AclBinding {
        AclBinding(ResourcePattern(type, name, pt), AccessControlEntry(principal: p, host: host, operation: op, permission: .deny))
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
            allow("User:alice", .read, .group, "app"),
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
        XCTAssertEqual(try store.create([allow("alice", .read, .topic, "x"), allow("User:a", .read, .cluster, "x"),
                                         allow("User:a", .any, .topic, "x"), allow("User:a", .read, .topic, "x", .match)]).map(\.errorCode),
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

        let deleted = try store.delete([.init(.init(.topic, "orders", .match), .init(principal: "User:alice")),
                                        .init(.init(.unknown))])
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
        XCTAssertFalse(auth.authorize(principal: alice, host: "10.1.1.1", operation: .write, resource: .topic("t\"x\n"), api: "Produce"))
        XCTAssertFalse(auth.authorize(principal: alice, host: "10.1.1.1", operation: .describe, resource: .group("g"), audit: false))
        _ = try auth.createAcls([allow("User:bob", .read, .topic, "t")], by: admin, host: "10.2.2.2")
        _ = try auth.deleteAcls([.any], by: admin, host: "10.2.2.2")
        let admin = self.admin
        DispatchQueue.concurrentPerform(iterations: 50) { i in
            log.admin(principal: admin, host: "h", api: "AlterUserScramCredentials", action: "UPSERT_SCRAM", resource: "USER:u\(i)", success: true)
        }
        log.close()
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 53)
        let events = try lines.map { try JSONDecoder().decode(AuditEvent.self, from: Data($0.utf8)) }
        XCTAssertEqual(events[0], AuditEvent(time: "2023-11-14T22:13:20.500Z", kind: .denied, principal: "User:alice", host: "10.1.1.1",
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
        XCTAssertEqual(ApiAuthorizationTable.authorization(for: .joinGroup).checks.first?.deniedError.rawValue, 30)
        XCTAssertEqual(ApiAuthorizationTable.authorization(for: .createAcls).checks, [AclCheck(.alter, .cluster)])
        XCTAssertEqual(ApiAuthorizationTable.authorization(for: .createAcls).checks.first?.deniedError.rawValue, 31)
        XCTAssertEqual(ApiAuthorizationTable.authorization(for: .saslHandshake).checks, [])
        XCTAssertEqual(SecurityErrorCode.saslAuthenticationFailed.rawValue, 58)
        XCTAssertEqual(SecurityErrorCode.illegalSaslState.rawValue, 34)
        XCTAssertEqual(SecurityErrorCode.unsupportedSaslMechanism.rawValue, 33)
    }
}
