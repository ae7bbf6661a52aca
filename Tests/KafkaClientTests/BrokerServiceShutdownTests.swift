import BrokerCore
import BrokerServer
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import XCTest

/// Graceful shutdown of a real `BrokerService` while clients are still connecting.
final class BrokerServiceShutdownTests: XCTestCase {
    // Four event loops: most connections are set up on a loop other than the listener's, so the
    // listener can close while their setup is still running.
    private let loops = MultiThreadedEventLoopGroup(numberOfThreads: 4)

    override func tearDown() async throws {
        try await loops.shutdownGracefully()
    }

    /// NIO drops a connection whose child channel initializer completes after the listener closed,
    /// with its outbound writer unfinished, and that traps ("Deinited NIOAsyncWriter without
    /// calling finish()", swift-nio#2637): the process dies. The listener here takes 20 ms to set
    /// up each connection, as a TLS handshake handler's setup can, and graceful shutdown starts
    /// while connections are inside it. In every round the broker must close every client
    /// connection on its own (one served only after the shutdown closed the others would keep it
    /// running until the client leaves) and stop.
    func testShutdownWhileClientsConnectClosesEveryConnection() async throws {
        try await stopWhileClientsConnect(cancelling: false)
    }

    /// The same when the service is cancelled instead (what a ServiceGroup does to the others when
    /// one service fails): connections still buffered in the listener's stream are finished too.
    func testCancellationWhileClientsConnectClosesEveryConnection() async throws {
        try await stopWhileClientsConnect(cancelling: true)
    }

    /// Ten rounds: start a broker, connect 16 clients, stop it once the first connection is being
    /// set up, check that it closed every client connection and stopped.
    private func stopWhileClientsConnect(cancelling: Bool) async throws {
        var logger = Logger(label: "test.broker")
        logger.logLevel = .critical
        for _ in 0..<10 {
            let settingUp = AsyncStream<Void>.makeStream()
            let slowListener = BrokerService.Listener(
                name: "PLAINTEXT", host: "127.0.0.1", port: 0,
                secure: { _ in
                    settingUp.continuation.yield()
                    usleep(20_000)
                })
            let bound = AsyncStream<Int>.makeStream()
            let broker = try Broker(config: BrokerConfig(), storage: InMemoryBrokerStorage(), logger: logger)
            let service = BrokerService(
                broker: broker, listeners: [slowListener], logger: logger, group: loops,
                onListening: { bound.continuation.yield($0.port!) })
            let serviceGroup = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
            let finished = NIOLockedValueBox(false)
            let running = Task {
                defer { finished.withLockedValue { $0 = true } }
                try await serviceGroup.run()
            }
            var ports = bound.stream.makeAsyncIterator()
            guard let port = await ports.next() else { return XCTFail("the broker did not start") }

            let connecting = (0..<16).map { _ in ClientBootstrap(group: loops).connect(host: "127.0.0.1", port: port) }
            var setups = settingUp.stream.makeAsyncIterator()
            _ = await setups.next()
            if cancelling { running.cancel() } else { await serviceGroup.triggerGracefulShutdown() }

            var clients: [any Channel] = []
            for attempt in connecting {
                // A connection the kernel refused or reset never completes; that is fine.
                if let client = try? await attempt.get() { clients.append(client) }
            }
            let allClosed = try await eventually(within: 5) { clients.allSatisfy { !$0.isActive } }
            XCTAssertTrue(
                allClosed,
                "\(clients.filter(\.isActive).count) client connections still open 5 s after the shutdown began")
            // Had the broker left some open, their request loops end now.
            for client in clients { try? await client.close() }
            guard try await eventually(within: 10, { finished.withLockedValue { $0 } }) else {
                running.cancel()
                return XCTFail("the broker did not stop within 10 s of the clients leaving")
            }
            if cancelling { _ = await running.result } else { try await running.value }
        }
    }
}
