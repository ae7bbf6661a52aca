import BrokerCore
import BrokerServer
import Logging
import NIOCore
import ServiceLifecycle
import XCTest
@testable import KafkaClient

/// A real `BrokerService` (in-memory logs) on a loopback port, for tests that drive the client
/// against a broker. `stop()` shuts it down gracefully.
final class InProcessBroker: @unchecked Sendable {
    let broker: Broker
    let address: BrokerAddress
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// - Parameters:
    ///   - configure: changes to the default config (advertised host 127.0.0.1).
    ///   - listener: the one listener to run; nil for a PLAINTEXT listener.
    ///   - prepare: runs on the broker before it listens (users, topics).
    static func start(
        configure: (inout BrokerConfig) -> Void = { _ in },
        listener: BrokerService.Listener? = nil,
        prepare: (Broker) throws -> Void = { _ in }
    ) async throws -> InProcessBroker {
        var logger = Logger(label: "test.broker")
        logger.logLevel = .critical
        var config = BrokerConfig()
        config.advertisedHost = "127.0.0.1"
        configure(&config)
        let broker = try Broker(config: config, storage: InMemoryBrokerStorage(), logger: logger)
        try prepare(broker)
        let bound = AsyncStream<Int>.makeStream()
        let onBound: @Sendable (SocketAddress) -> Void = { address in
            broker.setAdvertisedPort(Int32(address.port!))
            bound.continuation.yield(address.port!)
        }
        let service =
            if let listener {
                BrokerService(broker: broker, listeners: [listener], logger: logger, onListening: onBound)
            } else {
                BrokerService(broker: broker, host: "127.0.0.1", port: 0, logger: logger, onListening: onBound)
            }
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        let task = Task { try await group.run() }
        var ports = bound.stream.makeAsyncIterator()
        guard let port = await ports.next() else { throw XCTSkip("broker did not start") }
        return InProcessBroker(
            broker: broker, address: BrokerAddress(host: "127.0.0.1", port: port), group: group, task: task)
    }

    private init(broker: Broker, address: BrokerAddress, group: ServiceGroup, task: Task<Void, any Error>) {
        self.broker = broker
        self.address = address
        self.group = group
        self.task = task
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
