import Foundation
import ListenerSettings
import XCTest
import Yams
@testable import Topology

/// `listeners:` and `tls:` of a topology site's `broker:` section, read by the reader the broker
/// config file uses too, and the `security:` that says how links connect to the site.
final class ListenerSettingsTests: XCTestCase {
    /// Certificate, key and CA files that exist (the reader checks that they can be read, not
    /// what they hold); removed after the tests.
    static let certificates = FileManager.default.temporaryDirectory.appendingPathComponent(
        "strait-listener-tests-\(getpid())")

    override class func setUp() {
        super.setUp()
        try? FileManager.default.createDirectory(at: certificates, withIntermediateDirectories: true)
        for name in ["server.pem", "server.key", "ca.pem", "client.pem", "client.key"] {
            _ = FileManager.default.createFile(atPath: file(name), contents: Data("PEM\n".utf8))
        }
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: certificates)
        super.tearDown()
    }

    static func file(_ name: String) -> String { certificates.appendingPathComponent(name).path }

    /// One embedded site: `listen` on 19092 plus the lines given (indented under `broker:`).
    static func site(_ brokerLines: String) -> String {
        "name: x\nsites:\n  east:\n    broker:\n      listen: 127.0.0.1:19092\n      data-dir: /d/east\n" + brokerLines
    }

    static var tls: String {
        "      tls: { cert-file: \(file("server.pem")), key-file: \(file("server.key")), ca-file: \(file("ca.pem")), client-auth: required }\n"
    }

    func testASiteWithMutualTLSAndSASLListenersAndTheLinksConnectionToIt() throws {
        let topology = try TopologyLoader.parse(
            """
            name: secure
            sites:
              east:
                broker:
                  listen: 127.0.0.1:19092
                  data-dir: /d/east
                  settings: { sasl-mechanisms: SCRAM-SHA-512 }
                  listeners:
                    - { name: SSL, listen: 0.0.0.0:19093, protocol: ssl }
                    - { name: SASL_SSL, listen: 127.0.0.1:19094, protocol: SASL_SSL, advertised: localhost:29094, connections-max-reauth-ms: 60000 }
                  tls:
                    cert-file: \(Self.file("server.pem"))
                    key-file: \(Self.file("server.key"))
                    ca-file: \(Self.file("ca.pem"))
                    client-auth: required
                    principal-mapping-rules: ["RULE:^.*CN=([^,]+)$/$1/L", DEFAULT]
                    cipher-suites: TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384
                  security:
                    protocol: sasl_ssl
                    ca-file: \(Self.file("ca.pem"))
                    cert-file: \(Self.file("client.pem"))
                    key-file: \(Self.file("client.key"))
                    sasl-mechanism: SCRAM-SHA-512
                    username: mirror
                    password-env: MIRROR_PASSWORD
              west:
                broker: { listen: 127.0.0.1:29092, data-dir: /d/west }
            links:
              - { from: east, to: west }
            """, file: "secure.yaml")
        guard case let .embedded(east) = topology.sites[0].kind else { return XCTFail("embedded expected") }
        XCTAssertEqual(
            east.listeners.listeners,
            [
                ListenerSpec(name: "SSL", host: "0.0.0.0", port: 19093, securityProtocol: .ssl),
                ListenerSpec(
                    name: "SASL_SSL", host: "127.0.0.1", port: 19094, securityProtocol: .saslSSL,
                    advertisedHost: "localhost", advertisedPort: 29094, connectionsMaxReauthMs: 60000)
            ])
        XCTAssertEqual(
            east.listeners.tls,
            BrokerTLSSettings(
                certificateFile: Self.file("server.pem"), keyFile: Self.file("server.key"), caFile: Self.file("ca.pem"),
                clientAuth: .required, principalMappingRules: ["RULE:^.*CN=([^,]+)$/$1/L", "DEFAULT"],
                cipherSuites: ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]))
        XCTAssertEqual(east.config.saslMechanisms, [.scramSha512])
        XCTAssertEqual(
            east.listeners.listeners[0].advertisedAddress.host, "127.0.0.1", "a wildcard host is told as 127.0.0.1")
        // Links connect to the listener of the security protocol, at the address it advertises.
        XCTAssertEqual(east.clientListener?.name, "SASL_SSL")
        XCTAssertEqual(topology.sites[0].bootstrapServers, ["localhost:29094"])
        XCTAssertEqual(topology.sites[0].security.username, "mirror")
        XCTAssertEqual(topology.sites[0].security.password?.source, .environment("MIRROR_PASSWORD"))
        // A site without security: links connect in plaintext to `listen`.
        XCTAssertEqual(topology.sites[1].bootstrapServers, ["127.0.0.1:29092"])
        XCTAssertEqual(topology.sites[1].security, SecuritySettings())
    }

    func testEveryBadListenerOrTLSSettingGetsItsMessageAtTheRightPlace() {
        let cases: [BrokenTopologyTests.Case] = [
            .init(
                name: "missing certificate file",
                yaml: Self.site(
                    "      listeners: [{ name: SSL, listen: 127.0.0.1:19093, protocol: ssl }]\n"
                        + "      tls: { cert-file: /nonexistent/server.pem, key-file: \(Self.file("server.key")) }\n"),
                line: 8, column: 25, message: "site east.broker.tls.cert-file /nonexistent/server.pem: no such file"),
            .init(
                name: "sasl_ssl without tls",
                yaml: Self.site(
                    "      listeners:\n        - { name: SECURE, listen: 127.0.0.1:19093, protocol: sasl_ssl }\n"),
                line: 8, column: 62,
                message: "listener SECURE uses sasl_ssl, which needs tls: in site east.broker (cert-file, key-file)"),
            .init(
                name: "unknown protocol",
                yaml: Self.site(
                    "      listeners:\n        - { name: SECURE, listen: 127.0.0.1:19093, protocol: sasl-ssl }\n"),
                line: 8, column: 62,
                message:
                    "protocol must be one of plaintext, ssl, sasl_plaintext, sasl_ssl, got 'sasl-ssl' (did you mean 'sasl_ssl'?)"
            ),
            .init(
                name: "a listener on the listen port",
                yaml: Self.site("      listeners:\n        - { name: INTERNAL, listen: 0.0.0.0:19092 }\n"),
                line: 8, column: 37,
                message: "listener INTERNAL and listen both listen on port 19092: give each listener its own port"),
            .init(
                name: "two listeners on one port",
                yaml: Self.site(
                    "      listeners:\n        - { name: A, listen: 127.0.0.1:19093 }\n        - { name: B, listen: 127.0.0.1:19093 }\n"
                ),
                line: 9, column: 30, message: "listener B and A both listen on port 19093"),
            .init(
                name: "listener ports clash across sites",
                yaml: Self.site("      listeners: [{ name: SSL, listen: 127.0.0.1:29092, protocol: ssl }]\n" + Self.tls)
                    + "  west:\n    broker: { listen: 127.0.0.1:29092, data-dir: /d/west }\n",
                line: 9, column: 3, message: "sites east and west both listen on port 29092"),
            .init(
                name: "a listener on any free port",
                yaml: Self.site("      listeners:\n        - { name: A, listen: 127.0.0.1:0 }\n"),
                line: 8, column: 30, message: "listener A needs a port from 1 to 65535 (links and clients are told it)"),
            .init(
                name: "a listener named PLAINTEXT",
                yaml: Self.site("      listeners:\n        - { name: PLAINTEXT, listen: 127.0.0.1:19093 }\n"),
                line: 8, column: 19, message: "listener name PLAINTEXT is used twice (PLAINTEXT is the listen one)"),
            .init(
                name: "a listener without listen",
                yaml: Self.site("      listeners:\n        - { name: A, protocol: ssl }\n"),
                line: 8, column: 11, message: "listener A needs listen: HOST:PORT"),
            .init(
                name: "unknown key in a listener",
                yaml: Self.site("      listeners:\n        - { name: A, listen: 127.0.0.1:19093, protocl: ssl }\n"),
                line: 8, column: 47,
                message: "unknown key 'protocl' in a listener in site east.broker.listeners (did you mean 'protocol'?)"),
            .init(
                name: "re-authentication on a listener without SASL",
                yaml: Self.site(
                    "      listeners:\n        - { name: A, listen: 127.0.0.1:19093, connections-max-reauth-ms: 1000 }\n"
                ),
                line: 8, column: 74,
                message: "connections-max-reauth-ms applies to SASL sessions, but listener A is plaintext"),
            .init(
                name: "mutual TLS without a CA",
                yaml: Self.site(
                    "      tls: { cert-file: \(Self.file("server.pem")), key-file: \(Self.file("server.key")), client-auth: required }\n"
                ),
                line: 7, column: 12, message: "client-auth required needs ca-file"),
            .init(
                name: "tls without a key",
                yaml: Self.site("      tls: { cert-file: \(Self.file("server.pem")) }\n"),
                line: 7, column: 12, message: "site east.broker.tls needs key-file (PEM private key)"),
            .init(
                name: "unknown client-auth",
                yaml: Self.site(
                    "      tls: { cert-file: \(Self.file("server.pem")), key-file: \(Self.file("server.key")), client-auth: always }\n"
                ),
                line: 7,
                column: 12
                    + "{ cert-file: \(Self.file("server.pem")), key-file: \(Self.file("server.key")), client-auth: "
                    .count,
                message: "client-auth must be none, requested or required, got 'always'"),
            .init(
                name: "links told to connect over a protocol no listener speaks",
                yaml: Self.site(
                    "      listeners: [{ name: SSL, listen: 127.0.0.1:19093, protocol: ssl }]\n" + Self.tls
                        + "      security: { protocol: sasl_ssl, sasl-mechanism: PLAIN, username: u, password-env: P }\n"
                ),
                line: 9, column: 17,
                message: "site east.broker.security has protocol sasl_ssl, but no listener of site east uses sasl_ssl"),
            .init(
                name: "a password in the embedded site's security",
                yaml: Self.site(
                    "      security: { protocol: sasl_plaintext, sasl-mechanism: PLAIN, username: u, password: p }\n"),
                line: 7, column: 91, message: "write no password in the topology file")
        ]
        BrokenTopologyTests.assertEachIsRefusedAtItsPlace(cases)
    }

    /// The broker config file's view of the same reader: no scope, the `--listen` listener,
    /// and port 0 (any free port, printed when bound) allowed.
    func testTheBrokerConfigFileReadsTheSameKeys() throws {
        let yaml = """
            listeners:
              - { name: SSL, listen: 127.0.0.1:0, protocol: ssl }
              - { name: SASL, listen: 127.0.0.1:9093, protocol: sasl_plaintext }
            tls: { cert-file: \(Self.file("server.pem")), key-file: \(Self.file("server.key")) }
            """
        let root = try XCTUnwrap(try Yams.compose(yaml: yaml))
        let (settings, diagnostics) = BrokerListenerSettings.read(
            listeners: root.mapping?["listeners"], tls: root.mapping?["tls"],
            plaintext: .init(key: "--listen", host: "127.0.0.1", port: 9092), scope: nil, file: "broker.yaml")
        XCTAssertEqual(diagnostics, [])
        XCTAssertEqual(settings.listeners.map(\.port), [0, 9093])
        XCTAssertEqual(settings.tls?.principalMappingRules, ["DEFAULT"])
        XCTAssertEqual(settings.tls?.clientAuth, BrokerTLSSettings.ClientAuth.none)

        let broken = try XCTUnwrap(
            try Yams.compose(yaml: "listeners:\n  - { name: PLAINTEXT, listen: 127.0.0.1:9092, protocol: ssl }\n"))
        let (_, problems) = BrokerListenerSettings.read(
            listeners: broken.mapping?["listeners"], tls: nil,
            plaintext: .init(key: "--listen", host: "0.0.0.0", port: 9092),
            scope: nil, file: "broker.yaml")
        XCTAssertEqual(
            problems.map(\.description),
            [
                "broker.yaml:2:13: listener name PLAINTEXT is used twice (PLAINTEXT is the --listen one)",
                "broker.yaml:2:32: listener PLAINTEXT and --listen both listen on port 9092: give each listener its own port",
                "broker.yaml:2:58: listener PLAINTEXT uses ssl, which needs a tls: section (cert-file, key-file)"
            ])
    }
}
