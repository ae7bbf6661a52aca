import XCTest
@testable import Topology

/// Each broken file must produce its expected message at the right line and column.
final class BrokenTopologyTests: XCTestCase {
    /// A small valid base the cases below break one way each.
    static let sites = """
        sites:
          east:
            broker: { listen: 127.0.0.1:19092, data-dir: data/east }
          west:
            broker: { listen: 127.0.0.1:29092, data-dir: data/west }
        """

    struct Case {
        let name: String
        let yaml: String
        let line: Int
        let column: Int
        let message: String
    }

    static let cases: [Case] = [
        Case(name: "yaml syntax", yaml: "name: x\nsites: [east\n", line: 3, column: 1, message: "invalid YAML"),
        Case(
            name: "not a mapping", yaml: "- just\n- a list\n", line: 1, column: 1,
            message: "the topology must be a mapping"),
        Case(name: "missing name", yaml: "\(sites)\nlinks: []\n", line: 1, column: 1, message: "missing 'name'"),
        Case(name: "missing sites", yaml: "name: x\nlinks: []\n", line: 1, column: 1, message: "missing 'sites'"),
        Case(
            name: "unknown top-level key", yaml: "name: x\nmdoe: active-passive\n\(sites)\n", line: 2, column: 1,
            message: "unknown key 'mdoe' in the topology (did you mean 'mode'?)"),
        Case(
            name: "unknown mode", yaml: "name: x\nmode: active-pasive\n\(sites)\n", line: 2, column: 7,
            message: "mode must be active-passive, active-active or custom (did you mean 'active-passive'?)"),
        Case(
            name: "unknown key in a broker",
            yaml: "name: x\nsites:\n  east:\n    broker: { listen: 127.0.0.1:1, data-dir: d, data_dir: e }\n",
            line: 4, column: 49, message: "unknown key 'data_dir' in site east.broker (did you mean 'data-dir'?)"),
        Case(
            name: "site without broker or kafka", yaml: "name: x\nsites:\n  east: { }\n", line: 3, column: 9,
            message: "site east needs 'broker'"),
        Case(
            name: "site with broker and kafka",
            yaml:
                "name: x\nsites:\n  east:\n    broker: { listen: 127.0.0.1:1, data-dir: d }\n    kafka: { bootstrap: [h:1] }\n",
            line: 4, column: 5, message: "has both 'broker' (embedded) and 'kafka' (external)"),
        Case(
            name: "bad listen", yaml: "name: x\nsites:\n  east:\n    broker: { listen: localhost, data-dir: d }\n",
            line: 4, column: 23,
            message: "listen must be HOST:PORT"),
        Case(
            name: "missing data-dir", yaml: "name: x\nsites:\n  east:\n    broker: { listen: 127.0.0.1:1 }\n", line: 4,
            column: 13,
            message: "site east.broker is missing 'data-dir'"),
        Case(
            name: "bad broker setting value",
            yaml:
                "name: x\nsites:\n  east:\n    broker:\n      listen: 127.0.0.1:1\n      data-dir: d\n      settings: { flush: sometimes }\n",
            line: 7, column: 26, message: "flush must be 'interval' or 'per-batch'"),
        Case(
            name: "unknown broker setting",
            yaml:
                "name: x\nsites:\n  east:\n    broker:\n      listen: 127.0.0.1:1\n      data-dir: d\n      settings: { retention-mss: 5 }\n",
            line: 7, column: 19,
            message:
                "unknown broker setting 'retention-mss' in site east.broker.settings (did you mean 'retention-ms'?)"),
        Case(
            name: "external without bootstrap", yaml: "name: x\nsites:\n  dc:\n    kafka: { }\n", line: 4, column: 12,
            message: "site dc.kafka is missing 'bootstrap'"),
        Case(
            name: "bad site name", yaml: "name: x\nsites:\n  east.1:\n    kafka: { bootstrap: h:1 }\n", line: 3,
            column: 3,
            message: "site name 'east.1' may use only"),
        Case(
            name: "unknown site in a link", yaml: "name: x\n\(sites)\nlinks:\n  - { from: east, to: wset }\n", line: 8,
            column: 23,
            message: "unknown site 'wset' (did you mean 'west'?)"),
        Case(
            name: "link to itself", yaml: "name: x\n\(sites)\nlinks:\n  - { from: east, to: east }\n", line: 8,
            column: 23,
            message: "link from east to itself"),
        Case(
            name: "invalid pattern",
            yaml: "name: x\n\(sites)\nlinks:\n  - { from: east, to: west, topics: { include: [\"orders(\"] } }\n",
            line: 8, column: 49, message: "'orders(' in link.topics is not a valid regular expression"),
        Case(
            name: "unknown naming", yaml: "name: x\n\(sites)\nlinks:\n  - { from: east, to: west, naming: identiti }\n",
            line: 8, column: 37,
            message: "naming must be prefix or identity (did you mean 'identity'?)"),
        Case(
            name: "unknown compression",
            yaml: "name: x\n\(sites)\nlinks:\n  - { from: east, to: west, compression: lz5 }\n", line: 8, column: 42,
            message: "compression must be one of source, none, gzip, lz4, zstd, snappy (did you mean 'lz4'?)"),
        Case(
            name: "two links writing the same remote topics",
            yaml: "name: x\n\(sites)\nlinks:\n  - { from: east, to: west }\n  - { from: east, to: west }\n",
            line: 9, column: 5, message: "a second link from east to west"),
        Case(
            name: "identity fan-in",
            yaml:
                "name: x\nsites:\n  a: { kafka: { bootstrap: h:1 } }\n  b: { kafka: { bootstrap: h:2 } }\n  hub: { kafka: { bootstrap: h:3 } }\nlinks:\n  - { from: a, to: hub, naming: identity }\n  - { from: b, to: hub, naming: identity }\n",
            line: 8, column: 5, message: "both use identity naming"),
        Case(
            name: "active-active without reverse",
            yaml: "name: x\nmode: active-active\n\(sites)\nlinks:\n  - { from: east, to: west }\n", line: 9, column: 5,
            message: "active-active: link east → west has no reverse link west → east"),
        Case(
            name: "active-passive both ways",
            yaml:
                "name: x\nmode: active-passive\n\(sites)\nlinks:\n  - { from: east, to: west }\n  - { from: west, to: east }\n",
            line: 10, column: 5, message: "active-passive topology has links both ways"),
        Case(
            name: "identity loop without protection",
            yaml:
                "name: x\nmode: active-active\n\(sites)\nlinks:\n  - { from: east, to: west, naming: identity }\n  - { from: west, to: east, naming: identity }\n",
            line: 9, column: 5, message: "identity naming and no loop protection"),
        Case(
            name: "preserved offsets with identity naming both ways",
            yaml:
                "name: x\nmode: active-active\n\(sites)\nlinks:\n  - { from: east, to: west, naming: identity, offsets: preserve, provenance-header: true }\n  - { from: west, to: east, naming: identity, provenance-header: true }\n",
            line: 9, column: 56,
            message:
                "offsets: preserve with naming: identity needs a one-way link, but west → east writes the other way: producers at both sites write the same topic names, and a mirror topic refuses the target's own; use naming: prefix, or offsets: translate"
        ),
        Case(
            name: "port clash",
            yaml:
                "name: x\nsites:\n  east: { broker: { listen: 127.0.0.1:9092, data-dir: a } }\n  west: { broker: { listen: 0.0.0.0:9092, data-dir: b } }\n",
            line: 4, column: 3, message: "sites east and west both listen on port 9092"),
        Case(
            name: "data-dir clash",
            yaml:
                "name: x\nsites:\n  east: { broker: { listen: 127.0.0.1:1, data-dir: data } }\n  west: { broker: { listen: 127.0.0.1:2, data-dir: data/west } }\n",
            line: 4, column: 3, message: "sites east and west share the data directory"),
        Case(
            name: "expansion without primary", yaml: "name: x\nmode: active-passive\n\(sites)\n", line: 1, column: 1,
            message: "active-passive needs 'primary: SITE'"),
        Case(
            name: "password written in the file",
            yaml:
                "name: x\nsites:\n  dc:\n    kafka:\n      bootstrap: h:1\n      security: { protocol: sasl_ssl, sasl-mechanism: PLAIN, username: u, password: hunter2 }\n",
            line: 6, column: 85, message: "write no password in the topology file"),
        Case(
            name: "sasl without credentials",
            yaml: "name: x\nsites:\n  dc:\n    kafka:\n      bootstrap: h:1\n      security: { protocol: sasl_ssl }\n",
            line: 6, column: 17, message: "needs sasl-mechanism, username, and password-file or password-env"),
        Case(
            name: "tls files on plaintext",
            yaml: "name: x\nsites:\n  dc:\n    kafka:\n      bootstrap: h:1\n      security: { ca-file: /ca.pem }\n",
            line: 6, column: 17, message: "names TLS files but protocol is plaintext"),
        Case(
            name: "unknown security protocol",
            yaml: "name: x\nsites:\n  dc:\n    kafka:\n      bootstrap: h:1\n      security: { protocol: tls }\n",
            line: 6, column: 29, message: "protocol must be one of plaintext, ssl, sasl_plaintext, sasl_ssl"),
        Case(
            name: "wrong type",
            yaml: "name: x\n\(sites)\nlinks:\n  - { from: east, to: west, refresh-interval-ms: soon }\n", line: 8,
            column: 50,
            message: "link.refresh-interval-ms must be an integer")
    ]

    func testEveryBrokenFileGetsItsMessageAtTheRightPlace() {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 20)
        Self.assertEachIsRefusedAtItsPlace(Self.cases)
    }

    /// Each case's file is refused with a diagnostic holding its message at its line and column.
    static func assertEachIsRefusedAtItsPlace(_ cases: [Case], file: StaticString = #filePath, line: UInt = #line) {
        for brokenCase in cases {
            do {
                let topology = try TopologyLoader.parse(brokenCase.yaml, file: "broken.yaml")
                XCTFail("\(brokenCase.name): accepted, topology \(topology.name)", file: file, line: line)
            } catch {
                let found = error.diagnostics.first { $0.message.contains(brokenCase.message) }
                XCTAssertNotNil(
                    found, "\(brokenCase.name): no diagnostic containing '\(brokenCase.message)' in:\n\(error)",
                    file: file, line: line)
                if let found {
                    XCTAssertEqual(
                        [found.line, found.column], [brokenCase.line, brokenCase.column],
                        "\(brokenCase.name): \(found)",
                        file: file, line: line)
                    XCTAssertTrue(
                        found.description.hasPrefix("broken.yaml:\(found.line):\(found.column): "), file: file,
                        line: line)
                }
            }
        }
    }

    func testEveryProblemIsReportedNotOnlyTheFirst() {
        let yaml =
            "name: x\nsites:\n  east: { broker: { listen: nowhere, data-dir: a, colour: red } }\nlinks:\n  - { from: east, to: mars }\n"
        XCTAssertThrowsError(try TopologyLoader.parse(yaml, file: "f.yaml")) { error in
            XCTAssertGreaterThanOrEqual((error as? TopologyError)?.diagnostics.count ?? 0, 3, "\(error)")
        }
    }
}

final class TopologyModelTests: XCTestCase {
    func testTheShippedTopologiesAreValid() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../topologies"
        ).standardizedFileURL
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertGreaterThanOrEqual(files.count, 4)
        for file in files {
            XCTAssertNoThrow(try TopologyLoader.load(file: folder.appendingPathComponent(file).path), file)
        }
    }

    func testNamingAndFilters() throws {
        let topology = try TopologyLoader.parse(
            """
            name: t
            \(BrokenTopologyTests.sites)
            links:
              - { from: east, to: west, topics: { include: ["orders.*"], exclude: ["orders\\\\.internal"] }, separator: "_" }
            """, file: "t.yaml")
        let link = topology.links[0]
        XCTAssertEqual(link.remoteTopic(for: "orders"), "east_orders")
        XCTAssertTrue(link.topics.matches("orders.eu"))
        XCTAssertFalse(link.topics.matches("orders.internal"))
        XCTAssertFalse(link.topics.matches("payments"))
        XCTAssertTrue(link.groups.matches("anything"), "groups default to all")
    }

    func testTwoSitesAndAModeExpandToTheirLinks() throws {
        let activeActive = try TopologyLoader.parse(
            "name: t\nmode: active-active\n\(BrokenTopologyTests.sites)\n", file: "t.yaml")
        XCTAssertEqual(activeActive.links.map { "\($0.source)>\($0.target)" }, ["east>west", "west>east"])
        let activePassive = try TopologyLoader.parse(
            "name: t\nmode: active-passive\nprimary: west\n\(BrokenTopologyTests.sites)\n", file: "t.yaml")
        XCTAssertEqual(activePassive.links.map { "\($0.source)>\($0.target)" }, ["west>east"])
    }

    func testSecretsAreNamedNeverShown() throws {
        let topology = try TopologyLoader.parse(
            """
            name: t
            sites:
              dc:
                kafka:
                  bootstrap: h:9093
                  security: { protocol: sasl_ssl, sasl-mechanism: scram-sha-512, username: mirror, password-file: /run/pw }
            """, file: "t.yaml")
        guard case let .external(cluster) = topology.sites[0].kind else { return XCTFail("external expected") }
        XCTAssertEqual(cluster.security.saslMechanism, .scramSHA512)
        XCTAssertEqual(cluster.security.password?.source, .file("/run/pw"))
        XCTAssertEqual("\(cluster.security.password!)", "<secret from file /run/pw>")
    }

    func testSecurityProblemsSpeakTheCallersNames() {
        var settings = SecuritySettings()
        settings.caFile = "/ca.pem"
        settings.certificateFile = "/c.pem"
        settings.username = "u"
        let cli = SecuritySettings.Names(
            securityProtocol: "--security-protocol", caFile: "--ca-file", certificateFile: "--cert-file",
            keyFile: "--key-file", saslMechanism: "--sasl-mechanism", username: "--username",
            passwordFile: "--password-file", passwordEnv: "--password-env")
        XCTAssertEqual(
            settings.problems(context: "the command line", names: cli),
            [
                "the command line names TLS files but protocol is plaintext: use --security-protocol ssl or sasl_ssl",
                "the command line needs --cert-file and --key-file together (mutual TLS)",
                "the command line has SASL settings but protocol is plaintext: use --security-protocol sasl_plaintext or sasl_ssl"
            ])
        settings.securityProtocol = .saslSSL
        settings.keyFile = "/k.pem"
        XCTAssertEqual(
            settings.problems(context: "site dc.kafka.security"),
            [
                "site dc.kafka.security with protocol sasl_ssl needs sasl-mechanism, username, and password-file or password-env"
            ])
        settings.saslMechanism = .plain
        settings.password = SecretReference(source: .environment("PW"))
        XCTAssertEqual(settings.problems(context: "x"), [])
    }

    func testEmbeddedSitesCarryTheirBrokerSettings() throws {
        let topology = try TopologyLoader.parse(
            """
            name: t
            sites:
              east:
                broker:
                  listen: 127.0.0.1:19092
                  data-dir: /var/lib/strait/east
                  settings: { flush: per-batch, num-partitions: 6 }
            """, file: "/etc/strait/t.yaml")
        guard case let .embedded(broker) = topology.sites[0].kind else { return XCTFail("embedded expected") }
        XCTAssertEqual(broker.config.defaultPartitions, 6)
        XCTAssertEqual(broker.config.log.flushPolicy, .everyBatch)
        XCTAssertEqual(broker.config.advertisedPort, 19092)
        XCTAssertEqual(broker.dataDirectory, "/var/lib/strait/east")
    }
}
