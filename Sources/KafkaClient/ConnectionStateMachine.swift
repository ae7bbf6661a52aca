/// The request/response bookkeeping of one broker connection, without I/O: which correlation ids
/// are waiting, which were given up (timed out or cancelled, so a late response is dropped), and
/// whether the connection is still usable. The channel handler feeds it events and performs the
/// actions it returns.
///
/// Kafka answers a connection's requests in order, but responses are matched by correlation id
/// anyway: a response whose id was never sent is a protocol violation and closes the connection.
struct ConnectionStateMachine<Waiter> {
    struct Pending {
        var apiKey: Int16
        var apiVersion: Int16
        var responseHeaderVersion: Int16
        var waiter: Waiter
    }

    enum Failure: Equatable {
        case closed(reason: String)
        case timedOut
        case cancelled
        case duplicateCorrelationId(Int32)
    }

    private enum State {
        case open
        case closed(reason: String)
    }

    private var state: State = .open
    private var pending: [Int32: Pending] = [:]
    /// Sent, then given up by the caller: the response may still arrive and is then dropped.
    private var abandoned: Set<Int32> = []

    var inFlightCount: Int { pending.count }
    var abandonedCount: Int { abandoned.count }
    var isOpen: Bool {
        switch state {
        case .open: true
        case .closed: false
        }
    }

    enum SendAction {
        /// Write the frame; the request is now pending.
        case write
        case fail(Waiter, Failure)
    }

    mutating func sendRequested(correlationId: Int32, _ request: Pending) -> SendAction {
        switch state {
        case let .closed(reason):
            return .fail(request.waiter, .closed(reason: reason))
        case .open:
            guard pending[correlationId] == nil, !abandoned.contains(correlationId) else {
                return .fail(request.waiter, .duplicateCorrelationId(correlationId))
            }
            pending[correlationId] = request
            return .write
        }
    }

    enum ResponseAction {
        /// Decode the response for this request.
        case deliver(Pending)
        /// A late response to an abandoned request.
        case discard
        /// Close the connection; the handler then reports `connectionClosed`.
        case closeConnection(reason: String)
    }

    mutating func responseReceived(correlationId: Int32) -> ResponseAction {
        switch state {
        case .closed:
            return .discard
        case .open:
            if let request = pending.removeValue(forKey: correlationId) {
                return .deliver(request)
            }
            if abandoned.remove(correlationId) != nil {
                return .discard
            }
            return .closeConnection(reason: "response with unknown correlation id \(correlationId)")
        }
    }

    enum GiveUpAction {
        case fail(Waiter, Failure)
        /// Already answered or failed.
        case none
    }

    mutating func requestTimedOut(correlationId: Int32) -> GiveUpAction {
        giveUp(correlationId, .timedOut)
    }

    mutating func requestCancelled(correlationId: Int32) -> GiveUpAction {
        giveUp(correlationId, .cancelled)
    }

    private mutating func giveUp(_ correlationId: Int32, _ failure: Failure) -> GiveUpAction {
        switch state {
        case .closed:
            return .none
        case .open:
            guard let request = pending.removeValue(forKey: correlationId) else { return .none }
            abandoned.insert(correlationId)
            return .fail(request.waiter, failure)
        }
    }

    enum CloseAction {
        /// Fail these waiters (in correlation order) with `.closed(reason)`.
        case failAll([Waiter], Failure)
        case none
    }

    /// The connection closed (peer, error or us). The first reason wins.
    mutating func connectionClosed(reason: String) -> CloseAction {
        switch state {
        case .closed:
            return .none
        case .open:
            state = .closed(reason: reason)
            let waiters = pending.sorted { $0.key < $1.key }.map(\.value.waiter)
            pending = [:]
            abandoned = []
            return .failAll(waiters, .closed(reason: reason))
        }
    }
}
