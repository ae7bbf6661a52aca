import XCTest
@testable import KafkaClient

/// The correlation bookkeeping driven as transcripts (waiters are plain strings).
final class ConnectionStateMachineTests: XCTestCase {
    typealias Machine = ConnectionStateMachine<String>

    private func pending(_ name: String) -> Machine.Pending {
        Machine.Pending(apiKey: 3, apiVersion: 1, responseHeaderVersion: 0, waiter: name)
    }

    func testResponsesAreMatchedById() {
        var machine = Machine()
        for (id, name) in [(1, "a"), (2, "b"), (3, "c")] {
            guard case .write = machine.sendRequested(correlationId: Int32(id), pending(name)) else { return XCTFail() }
        }
        XCTAssertEqual(machine.inFlightCount, 3)
        guard case let .deliver(b) = machine.responseReceived(correlationId: 2) else { return XCTFail() }
        XCTAssertEqual(b.waiter, "b")
        guard case let .deliver(a) = machine.responseReceived(correlationId: 1) else { return XCTFail() }
        XCTAssertEqual(a.waiter, "a")
        XCTAssertEqual(machine.inFlightCount, 1)
    }

    func testUnknownIdClosesAndLateAnswersToAbandonedRequestsAreDropped() {
        var machine = Machine()
        _ = machine.sendRequested(correlationId: 1, pending("a"))
        _ = machine.sendRequested(correlationId: 2, pending("b"))
        guard case let .fail(waiter, .timedOut) = machine.requestTimedOut(correlationId: 1) else { return XCTFail() }
        XCTAssertEqual(waiter, "a")
        guard case .none = machine.requestTimedOut(correlationId: 1) else { return XCTFail("failed twice") }
        guard case .discard = machine.responseReceived(correlationId: 1) else { return XCTFail() }
        XCTAssertEqual(machine.abandonedCount, 0)
        // A second answer to 1 is no longer expected at all.
        guard case let .closeConnection(reason) = machine.responseReceived(correlationId: 1) else { return XCTFail() }
        XCTAssertTrue(reason.contains("unknown correlation id 1"))
        guard case let .failAll(waiters, .closed(reason: closeReason)) = machine.connectionClosed(reason: reason) else {
            return XCTFail()
        }
        XCTAssertEqual(waiters, ["b"])
        XCTAssertEqual(closeReason, reason)
    }

    func testClosingFailsEverythingOnceAndLaterSendsFailAtOnce() {
        var machine = Machine()
        _ = machine.sendRequested(correlationId: 7, pending("x"))
        _ = machine.sendRequested(correlationId: 5, pending("y"))
        _ = machine.requestCancelled(correlationId: 5)
        guard case let .failAll(waiters, _) = machine.connectionClosed(reason: "peer reset") else { return XCTFail() }
        XCTAssertEqual(waiters, ["x"])
        guard case .none = machine.connectionClosed(reason: "again") else { return XCTFail() }
        XCTAssertFalse(machine.isOpen)
        guard case let .fail(waiter, .closed(reason: reason)) = machine.sendRequested(correlationId: 8, pending("z"))
        else { return XCTFail() }
        XCTAssertEqual(waiter, "z")
        XCTAssertEqual(reason, "peer reset")
        guard case .discard = machine.responseReceived(correlationId: 7) else { return XCTFail() }
    }

    func testDuplicateCorrelationIdIsRefused() {
        var machine = Machine()
        _ = machine.sendRequested(correlationId: 1, pending("a"))
        guard case .fail("b", .duplicateCorrelationId(1)) = machine.sendRequested(correlationId: 1, pending("b")) else {
            return XCTFail()
        }
        XCTAssertEqual(machine.inFlightCount, 1)
    }
}
