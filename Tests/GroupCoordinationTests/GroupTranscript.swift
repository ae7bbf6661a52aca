import GroupCoordination
import KafkaProtocol
import XCTest

/// Small limits so transcripts stay readable: sessions 10 s, rebalances 20 s, initial delay 100 ms.
let testConfig = GroupCoordinatorConfig(
    minSessionTimeoutMs: 1_000, maxSessionTimeoutMs: 60_000, initialRebalanceDelayMs: 100, maxGroupSize: 10,
    maxOffsetMetadataBytes: 16)

/// Drives one `GroupStateMachine` by hand: a fake clock, sequential request tokens and member ids
/// (`<client>-<n>`), and every answer the machine gives, by token.
final class GroupTranscript {
    private(set) var machine: GroupStateMachine
    private(set) var now: Int64 = 0
    private var lastToken: UInt64 = 0
    private var lastMemberNumber = 0
    private var joinAnswers: [RequestToken: JoinGroupResponse] = [:]
    private var syncAnswers: [RequestToken: SyncGroupResponse] = [:]
    private var heartbeatAnswers: [RequestToken: HeartbeatResponse] = [:]
    private var leaveAnswers: [RequestToken: LeaveGroupResponse] = [:]
    private(set) var persisted: [GroupRecord] = []

    init(groupId: String = "orders", config: GroupCoordinatorConfig = testConfig) {
        machine = GroupStateMachine(groupId: groupId, config: config, now: 0)
    }

    var state: GroupState { machine.state }
    var generation: Int32 { machine.generationId }

    // MARK: Requests

    /// Sends JoinGroup; returns the token to look the (possibly later) answer up with.
    @discardableResult
    func join(
        client: String, memberId: String = "", instanceId: String? = nil, protocols: [String] = ["range"],
        metadata: [UInt8]? = nil, protocolType: String = "consumer", version: Int16 = 9,
        sessionTimeoutMs: Int32 = 10_000, rebalanceTimeoutMs: Int32 = 20_000
    ) -> RequestToken {
        let token = nextToken()
        lastMemberNumber += 1
        let request = JoinGroupRequest(
            groupId: machine.groupId, sessionTimeoutMs: sessionTimeoutMs, rebalanceTimeoutMs: rebalanceTimeoutMs,
            memberId: memberId, groupInstanceId: instanceId, protocolType: protocolType,
            protocols: protocols.map { .init(name: $0, metadata: metadata ?? Array("\(client):\($0)".utf8)) })
        record(
            machine.join(
                request, version: version, token: token, clientId: client, clientHost: "/10.0.0.1",
                newMemberId: "\(client)-\(lastMemberNumber)", now: now))
        return token
    }

    /// A new member's first JoinGroup in the v4+ flow: MEMBER_ID_REQUIRED, then the join with that
    /// id (parked). Returns the member id and the parked join's token.
    func joinNew(
        client: String, protocols: [String] = ["range"], metadata: [UInt8]? = nil,
        sessionTimeoutMs: Int32 = 10_000, rebalanceTimeoutMs: Int32 = 20_000,
        file: StaticString = #filePath, line: UInt = #line
    ) -> (memberId: String, token: RequestToken) {
        let first = join(
            client: client, protocols: protocols, metadata: metadata, sessionTimeoutMs: sessionTimeoutMs,
            rebalanceTimeoutMs: rebalanceTimeoutMs)
        let required = joined(first)
        XCTAssertEqual(required?.errorCode, KafkaErrorCode.memberIdRequired, file: file, line: line)
        let memberId = required?.memberId ?? ""
        let second = join(
            client: client, memberId: memberId, protocols: protocols, metadata: metadata,
            sessionTimeoutMs: sessionTimeoutMs, rebalanceTimeoutMs: rebalanceTimeoutMs)
        return (memberId, second)
    }

    @discardableResult
    func sync(
        memberId: String, generation: Int32, instanceId: String? = nil, assignments: [String: [UInt8]] = [:],
        protocolType: String? = nil, protocolName: String? = nil, version: Int16 = 5
    ) -> RequestToken {
        let token = nextToken()
        let request = SyncGroupRequest(
            groupId: machine.groupId, generationId: generation, memberId: memberId, groupInstanceId: instanceId,
            protocolType: protocolType, protocolName: protocolName,
            assignments: assignments.sorted { $0.key < $1.key }.map { .init(memberId: $0.key, assignment: $0.value) })
        record(machine.sync(request, version: version, token: token, now: now))
        return token
    }

    /// Sends Heartbeat; returns its error code.
    func heartbeat(memberId: String, generation: Int32, instanceId: String? = nil, version: Int16 = 4)
        -> KafkaErrorCode?
    {
        let token = nextToken()
        record(
            machine.heartbeat(
                HeartbeatRequest(
                    groupId: machine.groupId, generationId: generation, memberId: memberId, groupInstanceId: instanceId),
                version: version, token: token, now: now))
        return heartbeatAnswers[token].map(\.errorCode)
    }

    /// Sends LeaveGroup v3+ for a batch of (memberId, instanceId).
    func leave(_ members: [(String, String?)], version: Int16 = 5) -> LeaveGroupResponse? {
        let token = nextToken()
        let request = LeaveGroupRequest(
            groupId: machine.groupId, members: members.map { .init(memberId: $0.0, groupInstanceId: $0.1) })
        record(machine.leave(request, version: version, token: token, now: now))
        return leaveAnswers[token]
    }

    /// Sends LeaveGroup v0-2 for one member.
    func leaveV0(memberId: String) -> LeaveGroupResponse? {
        let token = nextToken()
        record(
            machine.leave(
                LeaveGroupRequest(groupId: machine.groupId, memberId: memberId), version: 1, token: token, now: now))
        return leaveAnswers[token]
    }

    func commitCheck(generation: Int32, memberId: String, instanceId: String? = nil) -> KafkaErrorCode {
        var machine = self.machine
        defer { self.machine = machine }
        return machine.validateOffsetCommit(
            generationId: generation, memberId: memberId, groupInstanceId: instanceId, now: now)
    }

    /// Moves the clock and lets the machine enforce its deadlines.
    func advance(byMs milliseconds: Int64) {
        now += milliseconds
        record(machine.tick(now: now))
    }

    // MARK: Answers

    func joined(_ token: RequestToken) -> JoinGroupResponse? { joinAnswers[token] }
    func synced(_ token: RequestToken) -> SyncGroupResponse? { syncAnswers[token] }

    func joinError(_ token: RequestToken) -> KafkaErrorCode? {
        joinAnswers[token].map(\.errorCode)
    }

    func syncError(_ token: RequestToken) -> KafkaErrorCode? {
        syncAnswers[token].map(\.errorCode)
    }

    /// The last group metadata record persisted.
    var lastGroupRecord: GroupMetadataRecord? {
        for record in persisted.reversed() {
            if case .group(let group) = record { return group }
        }
        return nil
    }

    // MARK: Plumbing

    private func nextToken() -> RequestToken {
        lastToken += 1
        return RequestToken(lastToken)
    }

    private func record(_ actions: [GroupAction]) {
        for action in actions {
            switch action {
            case .respondJoin(let token, let response):
                XCTAssertNil(joinAnswers[token], "join \(token) answered twice")
                joinAnswers[token] = response
            case .respondSync(let token, let response):
                XCTAssertNil(syncAnswers[token], "sync \(token) answered twice")
                syncAnswers[token] = response
            case .respondHeartbeat(let token, let response):
                heartbeatAnswers[token] = response
            case .respondLeave(let token, let response):
                leaveAnswers[token] = response
            case .persist(let record):
                persisted.append(record)
            }
        }
    }
}

/// ConsumerProtocolSubscription v0 bytes (INT16 version, topics, null user data), as Java clients send.
func subscription(_ topics: [String]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0]
    bytes += bigEndian(Int32(topics.count))
    for topic in topics {
        bytes += bigEndian(Int16(topic.utf8.count)) + Array(topic.utf8)
    }
    return bytes + bigEndian(Int32(-1))
}

func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
