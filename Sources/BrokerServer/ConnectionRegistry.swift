import Foundation
import NIOCore

/// Every connection of a `BrokerService`, from its child channel initializer until its request
/// loop ends, so that each connection's `NIOAsyncChannel` gets `executeThenClose` exactly once on
/// every path.
///
/// NIO hands accepted connections to the accept loop through the listener's async stream. A
/// connection whose initializer completes after the listener closed, or that is still buffered
/// in the stream when the accept loop stops iterating, is dropped by NIO with its outbound
/// writer unfinished, and that traps: "Deinited NIOAsyncWriter without calling finish()"
/// (swift-nio#2637). Here such a connection is still held, and the service finishes it once its
/// accept loops are over (`takeUnserved`).
///
/// A connection is *waiting* from its initializer until a serving task claims it, then
/// *serving*. `beginDraining` (graceful shutdown) stops both: initializers refuse new
/// connections, claims fail, and what is still waiting belongs to the service's drain.
final class ConnectionRegistry: @unchecked Sendable {
    private let lock = NSLock()
    /// Guarded by `lock`, as are the fields below.
    private var waiting: [ObjectIdentifier: BrokerService.AcceptedConnection] = [:]
    private var serving: [ObjectIdentifier: any Channel] = [:]
    private var draining = false
    private var lastConnectionId: UInt64 = 0

    /// In the child channel initializer, on the channel's event loop: wraps the channel (`make`)
    /// and records it as waiting. Nil once draining began; the channel is then never wrapped, and
    /// the caller closes it.
    func accept(_ make: () throws -> BrokerService.AcceptedConnection) rethrows -> BrokerService.AcceptedConnection? {
        // `make` runs under the lock so that no connection is wrapped after the drain took the rest.
        try lock.withLock {
            guard !draining else { return nil }
            let connection = try make()
            waiting[ObjectIdentifier(connection.channel.channel)] = connection
            return connection
        }
    }

    /// A serving task takes its connection: the connection's id, or nil when draining began first
    /// (the drain then finishes the connection, and the task must leave it alone).
    func claim(_ connection: BrokerService.AcceptedConnection) -> UInt64? {
        let key = ObjectIdentifier(connection.channel.channel)
        return lock.withLock {
            guard !draining, waiting.removeValue(forKey: key) != nil else { return nil }
            serving[key] = connection.channel.channel
            lastConnectionId += 1
            return lastConnectionId
        }
    }

    /// The serving task's request loop ended.
    func served(_ channel: any Channel) {
        _ = lock.withLock { serving.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Graceful shutdown: refuses new connections and claims from now on, and returns the channels
    /// being served, for the caller to close.
    func beginDraining() -> [any Channel] {
        lock.withLock {
            draining = true
            return Array(serving.values)
        }
    }

    /// The connections accepted but never served, removed from the registry. Call after the accept
    /// loops ended; it begins draining if that has not happened yet (the service was cancelled).
    func takeUnserved() -> [BrokerService.AcceptedConnection] {
        lock.withLock {
            draining = true
            defer { waiting.removeAll() }
            return Array(waiting.values)
        }
    }
}
