// swift-tools-version:6.0
// Strait: a multi-datacenter replication appliance for Kafka-protocol event streams.
// One module per layer; dependencies point one way (see docs/architecture.md).
import PackageDescription

let package = Package(
    name: "strait",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "strait", targets: ["strait"]),
        .executable(name: "strait-protocol-gen", targets: ["ProtocolGenerator"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1")
    ],
    targets: [
        // C shims and system libraries.
        .target(name: "CStraitCRC", cSettings: [.unsafeFlags(["-O3"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // Layers.
        // StraitSchemas: the Strait-only API schemas strait-protocol-gen reads (not compiled).
        .target(
            name: "KafkaProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
            ], exclude: ["StraitSchemas"]),
        .target(
            name: "KafkaRecords",
            dependencies: [
                "KafkaProtocol", "CStraitCRC", "CLZ4", "CZlib", "CZstd", "CSnappy",
                .product(name: "NIOCore", package: "swift-nio")
            ]),
        // DurableFile: the one atomic file replace (temp file, fsync, rename, fsync directory).
        .target(name: "DurableFile"),
        .target(
            name: "LogStorage",
            dependencies: [
                "KafkaProtocol", "KafkaRecords", "DurableFile",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]),
        // ListenerSettings: plain listener and TLS settings values, shared by the broker (BrokerCore,
        // BrokerServer) and the files that describe them (Topology) without either importing the other.
        .target(name: "ListenerSettings"),
        .target(
            name: "BrokerCore",
            dependencies: [
                "KafkaProtocol", "KafkaRecords", "LogStorage", "GroupCoordination", "Security", "ListenerSettings",
                "DurableFile",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .target(
            name: "GroupCoordination",
            dependencies: [
                "KafkaProtocol", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .target(
            name: "BrokerServer",
            dependencies: [
                "BrokerCore", "KafkaProtocol", "LogStorage", "Security", "ListenerSettings", "TLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ]),
        // Security: sans-IO SASL (PLAIN, SCRAM-SHA-256/512), credential stores, ACL authorizer, audit log.
        .target(
            name: "Security",
            dependencies: [
                "KafkaProtocol", "CCrypto", "DurableFile",
                .product(name: "Logging", package: "swift-log")
            ]),
        .target(
            name: "DelayLink",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .target(
            name: "Replication",
            dependencies: [
                "KafkaRecords", "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio")
            ]),
        .target(
            name: "TLS",
            dependencies: [
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .target(
            name: "Topology", dependencies: ["BrokerCore", "ListenerSettings", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "KafkaClient",
            dependencies: [
                "KafkaProtocol", "TLS", "Security", "KafkaRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .target(
            name: "Replicator",
            dependencies: [
                "KafkaClient", "Replication", "Topology", "KafkaRecords", "KafkaProtocol", "TLS", "Security",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ]),
        .target(
            name: "Observability",
            dependencies: [
                "Replicator",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ]),
        .target(
            name: "Failover",
            dependencies: [
                "Replicator", "Replication", "Observability", "KafkaClient", "KafkaProtocol", "KafkaRecords",
                "Topology",
                .product(name: "Logging", package: "swift-log")
            ]),
        .executableTarget(
            name: "strait",
            dependencies: [
                "Topology", "KafkaClient", "DelayLink", "Replicator", "Observability", "Failover", "Security", "TLS",
                "BrokerServer", "BrokerCore", "ListenerSettings", "LogStorage", "KafkaProtocol", "KafkaRecords",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio")
            ]),
        .executableTarget(
            name: "ProtocolGenerator",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),

        // Tests.
        .testTarget(
            name: "KafkaProtocolTests",
            dependencies: ["KafkaProtocol", .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "KafkaRecordsTests", dependencies: ["KafkaRecords"]),
        .testTarget(name: "DurableFileTests", dependencies: ["DurableFile"]),
        .testTarget(name: "FailoverTests", dependencies: ["Failover", "Replication"]),
        .testTarget(name: "LogStorageTests", dependencies: ["LogStorage", "KafkaRecords"]),
        .testTarget(
            name: "TopologyTests",
            dependencies: ["Topology", "BrokerCore", "ListenerSettings", .product(name: "Yams", package: "Yams")]),
        .testTarget(
            name: "KafkaClientTests",
            dependencies: [
                "KafkaClient", "KafkaProtocol", "KafkaRecords", "BrokerServer", "BrokerCore", "ListenerSettings",
                "LogStorage", "Security",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .testTarget(
            name: "ReplicationTests",
            dependencies: [
                "Replication", "KafkaRecords", "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio")
            ]),
        .testTarget(
            name: "ReplicatorTests",
            dependencies: [
                "Replicator", "BrokerServer", "BrokerCore", "KafkaClient", "KafkaRecords", "Topology",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio")
            ]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability", "Replicator"]),
        .testTarget(name: "GroupCoordinationTests", dependencies: ["GroupCoordination", "KafkaProtocol"]),
        .testTarget(
            name: "TLSTests",
            dependencies: [
                "TLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
            ]),
        .testTarget(name: "SecurityTests", dependencies: ["Security", "KafkaProtocol"]),
        .testTarget(
            name: "BrokerCoreTests",
            dependencies: ["BrokerCore", "KafkaProtocol", "KafkaRecords", "LogStorage", "Security", "ListenerSettings"])
    ]
)
