import KafkaProtocol
import NIOCore

/// One consumer group under the classic rebalance protocol: a pure, synchronous state machine.
///
/// It performs no I/O and never reads a clock: every step takes `now` (milliseconds) and returns
/// the `GroupAction`s to perform (answer a request, persist a record). JoinGroup and SyncGroup
/// requests are parked under the caller's `RequestToken` and answered by a later step, when the
/// join phase completes or the leader's assignment arrives. `tick(now:)` enforces session
/// timeouts, the rebalance timeout and the initial rebalance delay.
///
/// Invariants:
/// - `staticMembers` maps every static member's instance id to its current member id, and only those.
/// - `leaderId` is a member id of `members`, or nil when the group has no members.
/// - In `preparingRebalance`, `joinDeadline` is set; in `completingRebalance`/`stable`,
///   `pendingSyncMembers` lists members that have not sent SyncGroup for this generation and
///   `syncDeadline` bounds how long they may take.
public struct GroupStateMachine: Sendable {
    public let groupId: String
    public let config: GroupCoordinatorConfig
    public private(set) var state: GroupState = .empty
    public private(set) var generationId: Int32 = 0
    /// Set by the first member of an empty group; nil for a group only used for offsets.
    public private(set) var protocolType: String?
    /// The protocol (assignor) selected for the current generation.
    public private(set) var protocolName: String?
    public private(set) var leaderId: String?
    /// When the group entered its current state.
    public private(set) var stateTimestampMs: Int64
    public private(set) var offsets: [TopicPartition: RetainedOffset] = [:]

    var members: [GroupMember] = []
    private var staticMembers: [String: String] = [:]
    /// Members told MEMBER_ID_REQUIRED that have not joined yet, with their expiry deadline.
    private var pendingMembers: [String: Int64] = [:]
    private var pendingSyncMembers: Set<String> = []
    private var syncDeadline: Int64?
    private var joinDeadline: Int64?
    private var initialDelay: InitialDelay?

    /// The first rebalance of an empty group waits `initialRebalanceDelayMs` for more members, again
    /// for every newcomer, until `remainingMs` (rebalance timeout minus the first delay) runs out.
    private struct InitialDelay: Sendable {
        var remainingMs: Int64
        var newMemberAdded: Bool
    }

    /// A new, empty group.
    public init(groupId: String, config: GroupCoordinatorConfig, now: Int64) {
        self.groupId = groupId
        self.config = config
        self.stateTimestampMs = now
    }

    /// A group rebuilt from its persisted metadata (nil: offsets only) and offsets. A group with
    /// members comes back `stable` with fresh session deadlines: members that do not heartbeat
    /// within their session timeout are removed and the group rebalances.
    public init(
        groupId: String, config: GroupCoordinatorConfig, restoring record: GroupMetadataRecord?,
        offsets: [OffsetCommitRecord], now: Int64
    ) {
        self.init(groupId: groupId, config: config, now: now)
        for commit in offsets {
            self.offsets[commit.topicPartition] = commit.retained
        }
        guard let record else { return }
        generationId = record.generationId
        protocolType = record.protocolType
        protocolName = record.protocolName
        stateTimestampMs = record.stateTimestampMs
        members = record.members.map { member in
            GroupMember(
                memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                clientHost: member.clientHost, rebalanceTimeoutMs: member.rebalanceTimeoutMs,
                sessionTimeoutMs: member.sessionTimeoutMs, protocolType: record.protocolType ?? "",
                protocols: [.init(name: record.protocolName ?? "", metadata: member.subscription)],
                assignment: member.assignment, sessionDeadline: now + Int64(member.sessionTimeoutMs))
        }
        for member in members {
            if let instanceId = member.groupInstanceId { staticMembers[instanceId] = member.memberId }
        }
        if members.isEmpty {
            state = .empty
        } else {
            state = .stable
            leaderId = members.contains { $0.memberId == record.leaderId } ? record.leaderId : members[0].memberId
        }
    }

    // MARK: - Inspection

    /// Member ids in join order.
    public var memberIds: [String] { members.map(\.memberId) }

    /// The current assignment of a member (nil if not a member).
    public func assignment(of memberId: String) -> [UInt8]? {
        members.first { $0.memberId == memberId }?.assignment
    }

    /// The member id a static member's instance id maps to.
    public func memberId(forInstanceId instanceId: String) -> String? {
        staticMembers[instanceId]
    }

    /// True when the group can be forgotten: deleted, or empty and never persisted (no completed
    /// generation, no offsets, nobody waiting to join).
    public var isForgettable: Bool {
        state == .dead || (state == .empty && generationId == 0 && offsets.isEmpty && pendingMembers.isEmpty)
    }

    // MARK: - JoinGroup

    /// Handles JoinGroup. `newMemberId` is the id to hand out if the request needs one (the caller
    /// generates it, usually `clientId-<uuid>`). The answer may come in this step or a later one.
    public mutating func join(
        _ request: JoinGroupRequest, version: Int16, token: RequestToken, clientId: String, clientHost: String,
        newMemberId: String, now: Int64
    ) -> [GroupAction] {
        func fail(_ code: KafkaErrorCode) -> [GroupAction] {
            [.respondJoin(token, Self.joinError(code, memberId: request.memberId))]
        }
        guard (config.minSessionTimeoutMs...config.maxSessionTimeoutMs).contains(request.sessionTimeoutMs) else {
            return fail(.invalidSessionTimeout)
        }
        if state == .dead { return fail(.coordinatorNotAvailable) }
        let instanceId = version >= 5 ? request.groupInstanceId : nil
        guard acceptsJoiningMember(memberId: request.memberId, instanceId: instanceId) else {
            return fail(.groupMaxSizeReached)
        }
        guard supportsProtocols(type: request.protocolType, protocols: request.protocols) else {
            return fail(.inconsistentGroupProtocol)
        }
        // v0 has no rebalance timeout: the session timeout serves as both.
        let rebalanceTimeoutMs =
            version >= 1 && request.rebalanceTimeoutMs >= 0 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs
        func newMember(_ memberId: String) -> GroupMember {
            GroupMember(
                memberId: memberId, groupInstanceId: instanceId, clientId: clientId, clientHost: clientHost,
                rebalanceTimeoutMs: rebalanceTimeoutMs, sessionTimeoutMs: request.sessionTimeoutMs,
                protocolType: request.protocolType, protocols: request.protocols, awaitingJoin: token,
                sessionDeadline: now + Int64(request.sessionTimeoutMs))
        }

        var actions: [GroupAction] = []
        if request.memberId.isEmpty {
            if let instanceId, let oldMemberId = staticMembers[instanceId] {
                replaceStaticMember(
                    oldMemberId: oldMemberId, with: newMember(newMemberId), version: version, token: token, now: now,
                    actions: &actions)
            } else if instanceId == nil && version >= 4 {
                // KIP-394: hand out the id first; the member joins again with it.
                pendingMembers[newMemberId] = now + Int64(request.sessionTimeoutMs)
                actions.append(.respondJoin(token, Self.joinError(.memberIdRequired, memberId: newMemberId)))
            } else {
                addMemberAndRebalance(newMember(newMemberId), now: now, actions: &actions)
            }
            return actions
        }

        if pendingMembers.removeValue(forKey: request.memberId) != nil {
            if let instanceId, staticMembers[instanceId] != nil { return fail(.fencedInstanceId) }
            addMemberAndRebalance(newMember(request.memberId), now: now, actions: &actions)
            return actions
        }
        if let error = validateMember(request.memberId, instanceId: instanceId) { return fail(error) }
        guard let index = index(of: request.memberId) else { return fail(.unknownMemberId) }
        let sameProtocols =
            members[index].protocols == request.protocols && members[index].protocolType == request.protocolType
        switch state {
        case .preparingRebalance:
            updateMemberAndRebalance(at: index, from: newMember(request.memberId), now: now, actions: &actions)
        case .completingRebalance:
            if sameProtocols {
                // The member lost our answer: give it again.
                members[index].sessionDeadline = now + Int64(members[index].sessionTimeoutMs)
                actions.append(.respondJoin(token, currentJoinResponse(for: members[index].memberId)))
            } else {
                updateMemberAndRebalance(at: index, from: newMember(request.memberId), now: now, actions: &actions)
            }
        case .stable:
            if request.memberId == leaderId || !sameProtocols {
                // The leader rejoining (e.g. to react to metadata changes) or a changed subscription
                // needs a new assignment.
                updateMemberAndRebalance(at: index, from: newMember(request.memberId), now: now, actions: &actions)
            } else {
                members[index].sessionDeadline = now + Int64(members[index].sessionTimeoutMs)
                actions.append(.respondJoin(token, currentJoinResponse(for: members[index].memberId)))
            }
        case .empty, .dead:
            return fail(.unknownMemberId)
        }
        return actions
    }

    /// The JoinGroup answer for a member of the current generation (the leader also gets the members).
    private func currentJoinResponse(for memberId: String) -> JoinGroupResponse {
        let isLeader = memberId == leaderId
        return JoinGroupResponse(
            errorCode: .none, generationId: generationId, protocolType: protocolType,
            protocolName: protocolName, leader: leaderId ?? "", skipAssignment: false, memberId: memberId,
            members: isLeader ? joinResponseMembers() : [])
    }

    private func joinResponseMembers() -> [JoinGroupResponse.JoinGroupResponseMember] {
        members.map {
            .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata(for: protocolName))
        }
    }

    /// A JoinGroup error answer.
    public static func joinError(_ code: KafkaErrorCode, memberId: String) -> JoinGroupResponse {
        JoinGroupResponse(
            errorCode: code, generationId: -1, protocolType: nil, protocolName: nil, leader: "",
            memberId: memberId, members: [])
    }

    private func acceptsJoiningMember(memberId: String, instanceId: String?) -> Bool {
        if !memberId.isEmpty && (index(of: memberId) != nil || pendingMembers[memberId] != nil) { return true }
        if let instanceId, staticMembers[instanceId] != nil { return true }
        return members.count + pendingMembers.count < config.maxGroupSize
    }

    /// A non-empty group accepts a member only with the same protocol type and at least one
    /// protocol every current member supports.
    private func supportsProtocols(type: String, protocols: [JoinGroupRequest.JoinGroupRequestProtocol]) -> Bool {
        guard !type.isEmpty, !protocols.isEmpty else { return false }
        guard !members.isEmpty else { return true }
        guard type == protocolType else { return false }
        let candidates = candidateProtocols()
        return protocols.contains { candidates.contains($0.name) }
    }

    /// Protocols every member supports.
    private func candidateProtocols() -> Set<String> {
        guard let first = members.first else { return [] }
        var candidates = Set(first.protocols.map(\.name))
        for member in members.dropFirst() { candidates.formIntersection(member.protocols.map(\.name)) }
        return candidates
    }

    /// Kafka's rule: among protocols every member supports, each member votes for the first one in
    /// its own preference order; most votes wins. Ties go to the leader's preference order.
    private func selectProtocol() -> String? {
        let candidates = candidateProtocols()
        var votes: [String: Int] = [:]
        for member in members {
            if let choice = member.protocols.first(where: { candidates.contains($0.name) }) {
                votes[choice.name, default: 0] += 1
            }
        }
        let leaderOrder = (members.first { $0.memberId == leaderId } ?? members.first)?.protocols.map(\.name) ?? []
        var best: String?
        for name in leaderOrder where candidates.contains(name) {
            if best == nil || votes[name, default: 0] > votes[best!, default: 0] { best = name }
        }
        return best
    }

    private mutating func addMemberAndRebalance(_ member: GroupMember, now: Int64, actions: inout [GroupAction]) {
        if members.isEmpty { protocolType = member.protocolType }
        members.append(member)
        if let instanceId = member.groupInstanceId { staticMembers[instanceId] = member.memberId }
        if leaderId == nil { leaderId = member.memberId }
        if state == .preparingRebalance { initialDelay?.newMemberAdded = true }
        maybePrepareRebalance(now: now, actions: &actions)
    }

    private mutating func updateMemberAndRebalance(
        at index: Int, from update: GroupMember, now: Int64, actions: inout [GroupAction]
    ) {
        if let previous = members[index].awaitingJoin {
            actions.append(.respondJoin(previous, Self.joinError(.rebalanceInProgress, memberId: update.memberId)))
        }
        members[index].protocols = update.protocols
        members[index].protocolType = update.protocolType
        members[index].rebalanceTimeoutMs = update.rebalanceTimeoutMs
        members[index].sessionTimeoutMs = update.sessionTimeoutMs
        members[index].clientId = update.clientId
        members[index].clientHost = update.clientHost
        members[index].awaitingJoin = update.awaitingJoin
        members[index].sessionDeadline = update.sessionDeadline
        maybePrepareRebalance(now: now, actions: &actions)
    }

    /// A static member restarted: it takes over the old member's place (and assignment) under a
    /// new member id; requests still parked for the old id are fenced.
    private mutating func replaceStaticMember(
        oldMemberId: String, with replacement: GroupMember, version: Int16, token: RequestToken, now: Int64,
        actions: inout [GroupAction]
    ) {
        guard let index = index(of: oldMemberId), let instanceId = replacement.groupInstanceId else { return }
        let old = members[index]
        if let parked = old.awaitingJoin {
            actions.append(.respondJoin(parked, Self.joinError(.fencedInstanceId, memberId: oldMemberId)))
        }
        if let parked = old.awaitingSync { actions.append(.respondSync(parked, Self.syncError(.fencedInstanceId))) }
        var member = replacement
        member.assignment = old.assignment
        member.awaitingJoin = nil
        members[index] = member
        staticMembers[instanceId] = member.memberId
        let wasLeader = leaderId == oldMemberId
        if wasLeader { leaderId = member.memberId }
        if pendingSyncMembers.remove(oldMemberId) != nil { pendingSyncMembers.insert(member.memberId) }

        let unchanged = old.protocols == member.protocols && old.protocolType == member.protocolType
        switch state {
        case .stable where unchanged:
            // No rebalance: the new instance keeps the old one's assignment (fetched via SyncGroup).
            actions.append(.persist(.group(metadataRecord())))
            if version >= 9 {
                // KIP-814: the leader learns it leads but skips running the assignor.
                actions.append(
                    .respondJoin(
                        token,
                        JoinGroupResponse(
                            errorCode: .none, generationId: generationId, protocolType: protocolType,
                            protocolName: protocolName, leader: leaderId ?? "", skipAssignment: wasLeader,
                            memberId: member.memberId, members: wasLeader ? joinResponseMembers() : [])))
            } else {
                // Older clients would run the assignor if told they lead, and a stable group ignores
                // a new assignment: report the old leader id so the member acts as a follower.
                actions.append(
                    .respondJoin(
                        token,
                        JoinGroupResponse(
                            errorCode: .none, generationId: generationId, protocolType: protocolType,
                            protocolName: protocolName, leader: wasLeader ? oldMemberId : (leaderId ?? ""),
                            memberId: member.memberId, members: [])))
            }
        case .stable, .completingRebalance, .preparingRebalance, .empty, .dead:
            members[index].awaitingJoin = token
            maybePrepareRebalance(now: now, actions: &actions)
        }
    }

    // MARK: - Rebalance phases

    private mutating func maybePrepareRebalance(now: Int64, actions: inout [GroupAction]) {
        switch state {
        case .stable, .completingRebalance, .empty:
            prepareRebalance(now: now, actions: &actions)
        case .preparingRebalance:
            tryCompleteJoin(now: now, actions: &actions)
        case .dead:
            break
        }
    }

    private var groupRebalanceTimeoutMs: Int64 {
        Int64(members.map(\.rebalanceTimeoutMs).max() ?? 0)
    }

    private mutating func prepareRebalance(now: Int64, actions: inout [GroupAction]) {
        if state == .completingRebalance {
            // Members waiting for an assignment of the generation being abandoned must rejoin.
            for index in members.indices {
                members[index].assignment = []
                if let parked = members[index].awaitingSync {
                    actions.append(.respondSync(parked, Self.syncError(.rebalanceInProgress)))
                    members[index].awaitingSync = nil
                }
            }
        }
        pendingSyncMembers = []
        syncDeadline = nil
        if state == .empty {
            let delay = Int64(config.initialRebalanceDelayMs)
            initialDelay = InitialDelay(remainingMs: max(groupRebalanceTimeoutMs - delay, 0), newMemberAdded: false)
            joinDeadline = now + delay
        } else {
            initialDelay = nil
            joinDeadline = now + groupRebalanceTimeoutMs
        }
        state = .preparingRebalance
        stateTimestampMs = now
        tryCompleteJoin(now: now, actions: &actions)
    }

    /// Completes the join phase when everyone has rejoined (outside the initial delay) or the
    /// deadline has passed.
    private mutating func tryCompleteJoin(now: Int64, actions: inout [GroupAction]) {
        guard state == .preparingRebalance, let deadline = joinDeadline else { return }
        if let delay = initialDelay {
            guard now >= deadline else { return }
            if delay.newMemberAdded && delay.remainingMs > 0 {
                let step = min(Int64(config.initialRebalanceDelayMs), delay.remainingMs)
                initialDelay = InitialDelay(remainingMs: delay.remainingMs - step, newMemberAdded: false)
                joinDeadline = deadline + step
                tryCompleteJoin(now: now, actions: &actions)
            } else {
                completeJoin(now: now, actions: &actions)
            }
            return
        }
        let everyoneJoined = pendingMembers.isEmpty && members.allSatisfy { $0.awaitingJoin != nil }
        if everyoneJoined || now >= deadline { completeJoin(now: now, actions: &actions) }
    }

    private mutating func completeJoin(now: Int64, actions: inout [GroupAction]) {
        // Dynamic members that did not rejoin in time are out; static members stay until their
        // session times out.
        for member in members where member.awaitingJoin == nil && member.groupInstanceId == nil {
            removeMember(member.memberId, answering: .unknownMemberId, actions: &actions)
        }
        initialDelay = nil
        if !members.isEmpty && !members.contains(where: { $0.memberId == leaderId && $0.awaitingJoin != nil }) {
            guard let newLeader = members.first(where: { $0.awaitingJoin != nil }) else {
                // Only static members that have not rejoined: give them another rebalance timeout
                // (their session timeouts will remove them if they never come back).
                joinDeadline = now + groupRebalanceTimeoutMs
                return
            }
            leaderId = newLeader.memberId
        }
        generationId += 1
        joinDeadline = nil
        stateTimestampMs = now
        guard !members.isEmpty else {
            state = .empty
            protocolName = nil
            leaderId = nil
            actions.append(.persist(.group(metadataRecord())))
            return
        }
        protocolName = selectProtocol()
        state = .completingRebalance
        let everyone = joinResponseMembers()
        for index in members.indices {
            guard let parked = members[index].awaitingJoin else { continue }
            let memberId = members[index].memberId
            actions.append(
                .respondJoin(
                    parked,
                    JoinGroupResponse(
                        errorCode: .none, generationId: generationId, protocolType: protocolType,
                        protocolName: protocolName, leader: leaderId ?? "", skipAssignment: false, memberId: memberId,
                        members: memberId == leaderId ? everyone : [])))
            members[index].awaitingJoin = nil
            members[index].sessionDeadline = now + Int64(members[index].sessionTimeoutMs)
        }
        pendingSyncMembers = Set(members.map(\.memberId))
        syncDeadline = now + groupRebalanceTimeoutMs
    }

    /// Removes a member, answering its parked requests with `error`.
    private mutating func removeMember(
        _ memberId: String, answering error: KafkaErrorCode, actions: inout [GroupAction]
    ) {
        guard let index = index(of: memberId) else { return }
        let member = members.remove(at: index)
        if let instanceId = member.groupInstanceId, staticMembers[instanceId] == memberId {
            staticMembers.removeValue(forKey: instanceId)
        }
        pendingSyncMembers.remove(memberId)
        if let parked = member.awaitingJoin {
            actions.append(.respondJoin(parked, Self.joinError(error, memberId: memberId)))
        }
        if let parked = member.awaitingSync { actions.append(.respondSync(parked, Self.syncError(error))) }
        if leaderId == memberId { leaderId = members.first?.memberId }
    }

    private mutating func removeMemberAndUpdateGroup(_ memberId: String, now: Int64, actions: inout [GroupAction]) {
        removeMember(memberId, answering: .unknownMemberId, actions: &actions)
        switch state {
        case .dead, .empty:
            break
        case .stable, .completingRebalance:
            prepareRebalance(now: now, actions: &actions)
        case .preparingRebalance:
            tryCompleteJoin(now: now, actions: &actions)
        }
    }

    // MARK: - SyncGroup

    /// Handles SyncGroup. A follower's request is parked until the leader's arrives.
    public mutating func sync(_ request: SyncGroupRequest, version: Int16, token: RequestToken, now: Int64)
        -> [GroupAction]
    {
        func fail(_ code: KafkaErrorCode) -> [GroupAction] { [.respondSync(token, Self.syncError(code))] }
        if state == .dead { return fail(.coordinatorNotAvailable) }
        let instanceId = version >= 3 ? request.groupInstanceId : nil
        if let error = validateMember(request.memberId, instanceId: instanceId) { return fail(error) }
        if request.generationId != generationId { return fail(.illegalGeneration) }
        if version >= 5 {
            if let type = request.protocolType, type != protocolType { return fail(.inconsistentGroupProtocol) }
            if let name = request.protocolName, name != protocolName { return fail(.inconsistentGroupProtocol) }
        }
        guard let index = index(of: request.memberId) else { return fail(.unknownMemberId) }
        var actions: [GroupAction] = []
        switch state {
        case .empty:
            return fail(.unknownMemberId)
        case .dead:
            return fail(.coordinatorNotAvailable)
        case .preparingRebalance:
            return fail(.rebalanceInProgress)
        case .completingRebalance:
            if let previous = members[index].awaitingSync {
                actions.append(.respondSync(previous, Self.syncError(.rebalanceInProgress)))
            }
            members[index].awaitingSync = token
            members[index].sessionDeadline = now + Int64(members[index].sessionTimeoutMs)
            pendingSyncMembers.remove(request.memberId)
            if request.memberId == leaderId {
                // The leader's assignments are opaque bytes; members it left out get nothing.
                for member in members.indices {
                    members[member].assignment =
                        request.assignments.first { $0.memberId == members[member].memberId }?.assignment ?? []
                }
                state = .stable
                stateTimestampMs = now
                actions.append(.persist(.group(metadataRecord())))
                for member in members.indices {
                    guard let parked = members[member].awaitingSync else { continue }
                    actions.append(.respondSync(parked, syncResponse(assignment: members[member].assignment)))
                    members[member].awaitingSync = nil
                }
            }
        case .stable:
            pendingSyncMembers.remove(request.memberId)
            members[index].sessionDeadline = now + Int64(members[index].sessionTimeoutMs)
            actions.append(.respondSync(token, syncResponse(assignment: members[index].assignment)))
        }
        if pendingSyncMembers.isEmpty { syncDeadline = nil }
        return actions
    }

    private func syncResponse(assignment: [UInt8]) -> SyncGroupResponse {
        SyncGroupResponse(
            errorCode: .none, protocolType: protocolType, protocolName: protocolName,
            assignment: assignment)
    }

    /// A SyncGroup error answer.
    public static func syncError(_ code: KafkaErrorCode) -> SyncGroupResponse {
        SyncGroupResponse(errorCode: code, protocolType: nil, protocolName: nil, assignment: [])
    }

    // MARK: - Heartbeat

    public mutating func heartbeat(_ request: HeartbeatRequest, version: Int16, token: RequestToken, now: Int64)
        -> [GroupAction]
    {
        [.respondHeartbeat(token, HeartbeatResponse(errorCode: heartbeatError(request, version: version, now: now)))]
    }

    private mutating func heartbeatError(_ request: HeartbeatRequest, version: Int16, now: Int64) -> KafkaErrorCode {
        if state == .dead { return .coordinatorNotAvailable }
        let instanceId = version >= 3 ? request.groupInstanceId : nil
        if let error = validateMember(request.memberId, instanceId: instanceId) { return error }
        if request.generationId != generationId { return .illegalGeneration }
        guard let index = index(of: request.memberId) else { return .unknownMemberId }
        switch state {
        case .empty:
            return .unknownMemberId
        case .dead:
            return .coordinatorNotAvailable
        case .completingRebalance, .stable:
            members[index].sessionDeadline = now + Int64(members[index].sessionTimeoutMs)
            return .none
        case .preparingRebalance:
            members[index].sessionDeadline = now + Int64(members[index].sessionTimeoutMs)
            return .rebalanceInProgress
        }
    }

    // MARK: - LeaveGroup

    /// Handles LeaveGroup: v0-2 name one member; v3+ a batch, each by member id or instance id.
    public mutating func leave(_ request: LeaveGroupRequest, version: Int16, token: RequestToken, now: Int64)
        -> [GroupAction]
    {
        let leaving = version >= 3 ? request.members : [LeaveGroupRequest.MemberIdentity(memberId: request.memberId)]
        if state == .dead {
            return [
                .respondLeave(
                    token,
                    Self.leaveResponse(
                        topLevel: .coordinatorNotAvailable, members: leaving.map { ($0, .coordinatorNotAvailable) },
                        version: version))
            ]
        }
        var actions: [GroupAction] = []
        var results: [(LeaveGroupRequest.MemberIdentity, KafkaErrorCode)] = []
        for identity in leaving {
            let instanceId = version >= 3 ? identity.groupInstanceId : nil
            if identity.memberId.isEmpty, let instanceId {
                guard let memberId = staticMembers[instanceId] else {
                    results.append((identity, .unknownMemberId))
                    continue
                }
                removeMemberAndUpdateGroup(memberId, now: now, actions: &actions)
                results.append((identity, .none))
            } else if let error = validateMember(identity.memberId, instanceId: instanceId) {
                if error == .unknownMemberId, pendingMembers.removeValue(forKey: identity.memberId) != nil {
                    tryCompleteJoin(now: now, actions: &actions)
                    results.append((identity, .none))
                } else {
                    results.append((identity, error))
                }
            } else {
                removeMemberAndUpdateGroup(identity.memberId, now: now, actions: &actions)
                results.append((identity, .none))
            }
        }
        actions.append(.respondLeave(token, Self.leaveResponse(topLevel: .none, members: results, version: version)))
        return actions
    }

    /// v3+ report per member; v0-2 have only the top-level code, which carries the member's error.
    static func leaveResponse(
        topLevel: KafkaErrorCode, members: [(LeaveGroupRequest.MemberIdentity, KafkaErrorCode)], version: Int16
    ) -> LeaveGroupResponse {
        if version >= 3 {
            return LeaveGroupResponse(
                errorCode: topLevel,
                members: members.map {
                    .init(memberId: $0.0.memberId, groupInstanceId: $0.0.groupInstanceId, errorCode: $0.1)
                })
        }
        let code = topLevel != .none ? topLevel : (members.first { $0.1 != .none }?.1 ?? .none)
        return LeaveGroupResponse(errorCode: code)
    }

    // MARK: - Timers

    /// Enforces deadlines: expired pending members and sessions, the join phase's deadline (rebalance
    /// timeout or initial delay) and the sync deadline (members that never sent SyncGroup).
    public mutating func tick(now: Int64) -> [GroupAction] {
        var actions: [GroupAction] = []
        if state == .dead { return actions }
        let expiredPending = pendingMembers.filter { $0.value <= now }.keys.sorted()
        for memberId in expiredPending { pendingMembers.removeValue(forKey: memberId) }
        let expired = members.filter { $0.awaitingJoin == nil && $0.awaitingSync == nil && $0.sessionDeadline <= now }
        for member in expired { removeMemberAndUpdateGroup(member.memberId, now: now, actions: &actions) }
        if state == .preparingRebalance { tryCompleteJoin(now: now, actions: &actions) }
        if state == .completingRebalance || state == .stable, let deadline = syncDeadline, deadline <= now {
            let laggards = members.filter { pendingSyncMembers.contains($0.memberId) }.map(\.memberId)
            pendingSyncMembers = []
            syncDeadline = nil
            if !laggards.isEmpty {
                for memberId in laggards { removeMember(memberId, answering: .unknownMemberId, actions: &actions) }
                prepareRebalance(now: now, actions: &actions)
            }
        }
        return actions
    }

    // MARK: - Offsets

    /// Checks whether a commit with this identity may write offsets; refreshes the member's session.
    /// Generation -1 with no member id is a "simple" commit, allowed only while the group is empty.
    public mutating func validateOffsetCommit(
        generationId commitGeneration: Int32, memberId: String, groupInstanceId: String?, now: Int64
    ) -> KafkaErrorCode {
        if state == .dead { return .coordinatorNotAvailable }
        if commitGeneration >= 0 || !memberId.isEmpty || groupInstanceId != nil {
            if let error = validateMember(memberId, instanceId: groupInstanceId) { return error }
            if commitGeneration != generationId { return .illegalGeneration }
            guard let index = index(of: memberId) else { return .unknownMemberId }
            if state == .completingRebalance { return .rebalanceInProgress }
            members[index].sessionDeadline = now + Int64(members[index].sessionTimeoutMs)
            return .none
        }
        return state == .empty ? .none : .unknownMemberId
    }

    /// Stores commits (already validated and persisted).
    public mutating func applyOffsetCommits(_ commits: [OffsetCommitRecord]) {
        for commit in commits {
            offsets[commit.topicPartition] = commit.retained
        }
    }

    /// The group-level error of OffsetDelete: only empty groups, or consumer groups for topics they
    /// do not subscribe to, may lose offsets.
    public var offsetDeleteError: KafkaErrorCode {
        switch state {
        case .dead: return .groupIdNotFound
        case .empty: return .none
        case .preparingRebalance, .completingRebalance, .stable:
            return protocolType == "consumer" ? .none : .nonEmptyGroup
        }
    }

    /// Whether the group's members subscribe to `topic` (unknown subscriptions count as yes).
    public func isSubscribed(toTopic topic: String) -> Bool {
        if state == .empty { return false }
        guard let topics = subscribedTopics else { return true }
        return topics.contains(topic)
    }

    /// The union of topics in the members' ConsumerProtocolSubscription for the selected protocol;
    /// nil when the group is not a consumer group or a subscription does not decode.
    public var subscribedTopics: Set<String>? {
        guard protocolType == "consumer" else { return nil }
        var topics = Set<String>()
        for member in members {
            var buffer = ByteBuffer(bytes: member.metadata(for: protocolName))
            guard let version = try? buffer.readKafkaInt16(what: "ConsumerProtocolSubscription version"), version >= 0,
                let subscription = try? ConsumerProtocolSubscription(
                    from: &buffer, version: min(version, ConsumerProtocolSubscription.validVersions.upperBound))
            else { return nil }
            topics.formUnion(subscription.topics)
        }
        return topics
    }

    // MARK: - Offset retention (KIP-211)

    /// The offsets that have expired at `now` with the broker's retention `retentionMs`, in key order.
    ///
    /// - Empty group with a protocol type (a consumer group whose members left): the clock starts
    ///   when the group became empty, or at the commit if that is later (a simple commit made to
    ///   the empty group).
    /// - Stable consumer group with known subscriptions: offsets of topics no member subscribes to
    ///   expire from their commit; subscribed topics never do.
    /// - No protocol type (standalone "simple" commits only): from each commit.
    /// - Anything else (rebalancing, non-consumer protocols, undecodable subscriptions): nothing.
    ///
    /// An offset committed with OffsetCommit v2-v4 retention_time_ms expires at its own
    /// `expireTimestampMs` instead, under the same conditions.
    public func expiredOffsets(now: Int64, retentionMs: Int64) -> [TopicPartition] {
        let since: (RetainedOffset) -> Int64
        var keptTopics: Set<String> = []
        switch state {
        case .empty:
            if protocolType == nil {
                since = { $0.commitTimestampMs }
            } else {
                let emptiedAt = stateTimestampMs
                since = { max(emptiedAt, $0.commitTimestampMs) }
            }
        case .stable:
            guard protocolType == "consumer", let subscribed = subscribedTopics else { return [] }
            keptTopics = subscribed
            since = { $0.commitTimestampMs }
        case .preparingRebalance, .completingRebalance, .dead:
            return []
        }
        return offsets.filter { key, committed in
            guard !keptTopics.contains(key.topic) else { return false }
            if let expireAt = committed.expireTimestampMs { return now >= expireAt }
            return now - since(committed) >= retentionMs
        }.keys.sorted()
    }

    /// True when offset retention should delete the group: empty, no offsets left, nobody in the
    /// middle of joining (a MEMBER_ID_REQUIRED id handed out).
    public var isEmptyWithoutOffsets: Bool {
        state == .empty && offsets.isEmpty && pendingMembers.isEmpty
    }

    /// Removes offsets; returns tombstones for those that existed.
    public mutating func deleteOffsets(_ partitions: [TopicPartition]) -> [GroupRecord] {
        partitions.compactMap { key in
            offsets.removeValue(forKey: key) == nil
                ? nil : .offsetTombstone(groupId: groupId, topic: key.topic, partition: key.partition)
        }
    }

    // MARK: - Admin

    /// Whether DeleteGroups may delete the group.
    public var deleteError: KafkaErrorCode {
        switch state {
        case .dead: return .groupIdNotFound
        case .empty: return .none
        case .preparingRebalance, .completingRebalance, .stable: return .nonEmptyGroup
        }
    }

    /// Tombstones for every offset and the group metadata: what deleting the group persists.
    public var deletionRecords: [GroupRecord] {
        offsets.keys.sorted().map { .offsetTombstone(groupId: groupId, topic: $0.topic, partition: $0.partition) }
            + [.groupTombstone(groupId: groupId)]
    }

    /// Marks the group deleted (after `deletionRecords` were persisted).
    public mutating func markDead(now: Int64) {
        state = .dead
        offsets = [:]
        stateTimestampMs = now
    }

    /// The group as DescribeGroups shows it: metadata and assignments only when stable.
    public func describe(includeAuthorizedOperations: Bool) -> DescribeGroupsResponse.DescribedGroup {
        let stable = state == .stable
        return DescribeGroupsResponse.DescribedGroup(
            errorCode: .none, groupId: groupId, groupState: state.rawValue,
            protocolType: protocolType ?? "", protocolData: stable ? (protocolName ?? "") : "",
            members: members.map { member in
                .init(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                    clientHost: member.clientHost, memberMetadata: stable ? member.metadata(for: protocolName) : [],
                    memberAssignment: stable ? member.assignment : [])
            },
            authorizedOperations: includeAuthorizedOperations ? Self.groupOperations : Int32.min)
    }

    /// READ (3), DELETE (6) and DESCRIBE (8) as an ACL operation bit set: everything a group
    /// supports, since the broker has no authorizer.
    static let groupOperations: Int32 = (1 << 3) | (1 << 6) | (1 << 8)

    /// The group as ListGroups shows it.
    public var listing: ListGroupsResponse.ListedGroup {
        .init(groupId: groupId, protocolType: protocolType ?? "", groupState: state.rawValue, groupType: "classic")
    }

    /// The persisted form of the group's membership.
    public func metadataRecord() -> GroupMetadataRecord {
        GroupMetadataRecord(
            groupId: groupId, protocolType: protocolType, generationId: generationId, protocolName: protocolName,
            leaderId: leaderId, stateTimestampMs: stateTimestampMs,
            members: members.map { member in
                .init(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                    clientHost: member.clientHost, rebalanceTimeoutMs: member.rebalanceTimeoutMs,
                    sessionTimeoutMs: member.sessionTimeoutMs, subscription: member.metadata(for: protocolName),
                    assignment: member.assignment)
            })
    }

    /// Answers every parked request with `error` (the coordinator is shutting down).
    public mutating func abandonParkedRequests(with error: KafkaErrorCode) -> [GroupAction] {
        var actions: [GroupAction] = []
        for index in members.indices {
            if let parked = members[index].awaitingJoin {
                actions.append(.respondJoin(parked, Self.joinError(error, memberId: members[index].memberId)))
                members[index].awaitingJoin = nil
            }
            if let parked = members[index].awaitingSync {
                actions.append(.respondSync(parked, Self.syncError(error)))
                members[index].awaitingSync = nil
            }
        }
        return actions
    }

    // MARK: - Helpers

    private func index(of memberId: String) -> Int? {
        members.firstIndex { $0.memberId == memberId }
    }

    /// FENCED_INSTANCE_ID when the instance id belongs to another member id (a newer instance took
    /// over); UNKNOWN_MEMBER_ID when the member id is not in the group.
    private func validateMember(_ memberId: String, instanceId: String?) -> KafkaErrorCode? {
        if let instanceId, let current = staticMembers[instanceId], current != memberId { return .fencedInstanceId }
        if index(of: memberId) == nil { return .unknownMemberId }
        return nil
    }
}
