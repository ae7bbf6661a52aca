import Foundation
import KafkaProtocol
import Logging

/// Who sent a request (shown by DescribeGroups).
public struct ClientInfo: Sendable, Equatable {
    public var clientId: String
    public var clientHost: String

    public init(clientId: String, clientHost: String) {
        self.clientId = clientId
        self.clientHost = clientHost
    }
}

/// The group coordinator: every consumer group of this broker, behind one lock.
///
/// A thin layer over `GroupStateMachine`: it routes each request to its group, parks JoinGroup and
/// SyncGroup callers on continuations until the state machine answers them, persists records to
/// the `GroupStore`, and replays the store on `start()`. Time comes only from the injected `now`
/// closure; the owner calls `tick()` on a timer (every 100 ms is plenty) to enforce timeouts.
///
/// Lifecycle: requests before `start()` get COORDINATOR_LOAD_IN_PROGRESS; after `shutdown()`
/// they (and every parked request) get NOT_COORDINATOR.
public final class GroupCoordinator: @unchecked Sendable {
    private enum Phase {
        case loading
        case active
        case shutDown
    }

    public let config: GroupCoordinatorConfig
    private let store: any GroupStore
    private let now: @Sendable () -> Int64
    private let topicPartitionExists: @Sendable (String, Int32) -> Bool
    private let makeMemberId: @Sendable (String) -> String
    private let logger: Logger

    // Guarded by `lock`.
    private let lock = NSLock()
    private var phase = Phase.loading
    private var groups: [String: GroupStateMachine] = [:]
    private var nextToken: UInt64 = 0
    private var joinWaiters: [RequestToken: CheckedContinuation<JoinGroupResponse, Never>] = [:]
    private var syncWaiters: [RequestToken: CheckedContinuation<SyncGroupResponse, Never>] = [:]
    /// When `tick()` next looks for expired offsets.
    private var nextOffsetExpirationCheck: Int64 = .max

    /// - Parameters:
    ///   - now: the current time in milliseconds (wall clock in the broker, a fake clock in tests).
    ///   - topicPartitionExists: whether commits to this partition are allowed.
    ///   - makeMemberId: the member id for a new member, from its client id (default
    ///     `clientId-<random UUID>`, as Kafka does).
    public init(
        config: GroupCoordinatorConfig = GroupCoordinatorConfig(),
        store: any GroupStore,
        now: @escaping @Sendable () -> Int64,
        topicPartitionExists: @escaping @Sendable (String, Int32) -> Bool,
        makeMemberId: @escaping @Sendable (String) -> String = GroupCoordinator.randomMemberId,
        logger: Logger = Logger(label: "strait.groups")
    ) {
        self.config = config
        self.store = store
        self.now = now
        self.topicPartitionExists = topicPartitionExists
        self.makeMemberId = makeMemberId
        self.logger = logger
    }

    /// `clientId-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` with a random version-4 UUID.
    public static func randomMemberId(clientId: String) -> String {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
        let uuid = [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(
            separator: "-")
        return "\(clientId)-\(uuid)"
    }

    /// The APIs and versions the coordinator handles, for the broker's ApiVersions answer (every
    /// version the schemas define).
    public static let supportedVersions: [(APIKey, ClosedRange<Int16>)] = [
        (.offsetCommit, OffsetCommitRequest.validVersions),
        (.offsetFetch, OffsetFetchRequest.validVersions),
        (.joinGroup, JoinGroupRequest.validVersions),
        (.heartbeat, HeartbeatRequest.validVersions),
        (.leaveGroup, LeaveGroupRequest.validVersions),
        (.syncGroup, SyncGroupRequest.validVersions),
        (.describeGroups, DescribeGroupsRequest.validVersions),
        (.listGroups, ListGroupsRequest.validVersions),
        (.deleteGroups, DeleteGroupsRequest.validVersions),
        (.offsetDelete, OffsetDeleteRequest.validVersions)
    ]

    // MARK: - Lifecycle

    /// Replays the store (in order: the latest record per key wins, tombstones delete) and starts
    /// answering requests. Throws if the store cannot be read; requests keep getting
    /// COORDINATOR_LOAD_IN_PROGRESS until a `start()` succeeds.
    public func start() throws {
        let records = try store.loadAll()
        var metadata: [String: GroupMetadataRecord] = [:]
        var offsets: [String: [TopicPartition: OffsetCommitRecord]] = [:]
        for record in records {
            switch record {
            case .group(let group):
                metadata[group.groupId] = group
            case .groupTombstone(let groupId):
                metadata.removeValue(forKey: groupId)
            case .offset(let commit):
                offsets[commit.groupId, default: [:]][TopicPartition(commit.topic, commit.partition)] = commit
            case .offsetTombstone(let groupId, let topic, let partition):
                offsets[groupId]?.removeValue(forKey: TopicPartition(topic, partition))
            }
        }
        let loadedGroups = lock.withLock { () -> Int in
            let now = self.now()
            groups = [:]
            for groupId in Set(metadata.keys).union(offsets.keys) {
                let groupOffsets = (offsets[groupId] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
                guard metadata[groupId] != nil || !groupOffsets.isEmpty else { continue }
                groups[groupId] = GroupStateMachine(
                    groupId: groupId, config: config, restoring: metadata[groupId], offsets: groupOffsets, now: now)
            }
            phase = .active
            nextOffsetExpirationCheck = now + config.offsetsRetentionCheckIntervalMs
            return groups.count
        }
        logger.info("group coordinator loaded", metadata: ["groups": "\(loadedGroups)", "records": "\(records.count)"])
    }

    /// Stops coordinating: parked JoinGroup/SyncGroup requests and every later request get
    /// NOT_COORDINATOR.
    public func shutdown() {
        var deliveries = Deliveries()
        lock.withLock {
            phase = .shutDown
            for groupId in groups.keys.sorted() {
                performLocked(groups[groupId]!.abandonParkedRequests(with: .notCoordinator), into: &deliveries)
            }
        }
        deliveries.deliver()
    }

    /// Enforces session timeouts, rebalance timeouts and the initial rebalance delay at `now()`,
    /// and every `offsetsRetentionCheckIntervalMs` expires offsets (`expireOffsets()`).
    public func tick() {
        var deliveries = Deliveries()
        lock.withLock {
            guard phase == .active else { return }
            let now = self.now()
            for groupId in groups.keys.sorted() {
                performLocked(groups[groupId]!.tick(now: now), into: &deliveries)
                forgetIfPossible(groupId)
            }
            if now >= nextOffsetExpirationCheck {
                nextOffsetExpirationCheck = now + config.offsetsRetentionCheckIntervalMs
                expireOffsetsLocked(now: now)
            }
        }
        deliveries.deliver()
    }

    /// Offset retention (KIP-211), as Kafka's periodic group metadata cleanup: removes every
    /// expired offset (`GroupStateMachine.expiredOffsets`), persisting a tombstone for each, and
    /// deletes groups left empty without offsets (offset and group tombstones; the group is Dead
    /// and forgotten). A group whose tombstones cannot be persisted is left as it was until the
    /// next check. Returns the number of offsets and groups removed.
    @discardableResult
    public func expireOffsets() -> (offsets: Int, groups: Int) {
        lock.withLock {
            guard phase == .active else { return (0, 0) }
            return expireOffsetsLocked(now: now())
        }
    }

    @discardableResult
    private func expireOffsetsLocked(now: Int64) -> (offsets: Int, groups: Int) {
        var removedOffsets = 0
        var removedGroups = 0
        for groupId in groups.keys.sorted() {
            var group = groups[groupId]!
            let expired = group.expiredOffsets(now: now, retentionMs: config.offsetsRetentionMs)
            var records = group.deleteOffsets(expired)
            let deleteGroup = group.isEmptyWithoutOffsets
            if deleteGroup { records.append(.groupTombstone(groupId: groupId)) }
            guard !records.isEmpty else { continue }
            do {
                try store.append(records)
            } catch {
                logger.error("expired offsets not persisted", metadata: ["group": "\(groupId)", "error": "\(error)"])
                continue
            }
            removedOffsets += expired.count
            if deleteGroup {
                group.markDead(now: now)
                groups.removeValue(forKey: groupId)
                removedGroups += 1
            } else {
                groups[groupId] = group
            }
        }
        if removedOffsets > 0 || removedGroups > 0 {
            logger.info(
                "offset retention",
                metadata: ["expiredOffsets": "\(removedOffsets)", "deletedGroups": "\(removedGroups)"])
        }
        return (removedOffsets, removedGroups)
    }

    // MARK: - Membership (JoinGroup, SyncGroup, Heartbeat, LeaveGroup)

    /// JoinGroup: returns when the join phase completes (or at once for errors and MEMBER_ID_REQUIRED).
    public func handle(_ request: JoinGroupRequest, version: Int16, client: ClientInfo) async -> JoinGroupResponse {
        await withCheckedContinuation { continuation in
            var deliveries = Deliveries()
            lock.withLock {
                if let error = unavailableError(groupId: request.groupId, emptyIdAllowed: false) {
                    deliveries.add {
                        continuation.resume(returning: GroupStateMachine.joinError(error, memberId: request.memberId))
                    }
                    return
                }
                if groups[request.groupId] == nil {
                    guard request.memberId.isEmpty else {
                        deliveries.add {
                            continuation.resume(
                                returning: GroupStateMachine.joinError(.unknownMemberId, memberId: request.memberId))
                        }
                        return
                    }
                    groups[request.groupId] = GroupStateMachine(groupId: request.groupId, config: config, now: now())
                }
                let token = makeToken()
                joinWaiters[token] = continuation
                let actions = groups[request.groupId]!.join(
                    request, version: version, token: token, clientId: client.clientId, clientHost: client.clientHost,
                    newMemberId: makeMemberId(client.clientId), now: now())
                performLocked(actions, into: &deliveries)
                forgetIfPossible(request.groupId)
            }
            deliveries.deliver()
        }
    }

    /// SyncGroup: the leader's request distributes assignments; followers wait for it.
    public func handle(_ request: SyncGroupRequest, version: Int16) async -> SyncGroupResponse {
        await withCheckedContinuation { continuation in
            var deliveries = Deliveries()
            lock.withLock {
                if let error = unavailableError(groupId: request.groupId, emptyIdAllowed: false) {
                    deliveries.add { continuation.resume(returning: GroupStateMachine.syncError(error)) }
                    return
                }
                guard groups[request.groupId] != nil else {
                    deliveries.add { continuation.resume(returning: GroupStateMachine.syncError(.unknownMemberId)) }
                    return
                }
                let token = makeToken()
                syncWaiters[token] = continuation
                performLocked(
                    groups[request.groupId]!.sync(request, version: version, token: token, now: now()),
                    into: &deliveries)
            }
            deliveries.deliver()
        }
    }

    /// Heartbeat: answered at once (REBALANCE_IN_PROGRESS tells the member to rejoin).
    public func handle(_ request: HeartbeatRequest, version: Int16) -> HeartbeatResponse {
        var deliveries = Deliveries()
        let response = lock.withLock { () -> HeartbeatResponse in
            if let error = unavailableError(groupId: request.groupId, emptyIdAllowed: false) {
                return HeartbeatResponse(errorCode: error)
            }
            guard groups[request.groupId] != nil else { return HeartbeatResponse(errorCode: .unknownMemberId) }
            let token = makeToken()
            performLocked(
                groups[request.groupId]!.heartbeat(request, version: version, token: token, now: now()),
                into: &deliveries)
            guard case .respondHeartbeat(_, let response)? = deliveries.unclaimed.removeValue(forKey: token) else {
                return HeartbeatResponse(errorCode: .unknownServerError)
            }
            return response
        }
        deliveries.deliver()
        return response
    }

    /// LeaveGroup: answered at once; the group rebalances without the members that left.
    public func handle(_ request: LeaveGroupRequest, version: Int16) -> LeaveGroupResponse {
        var deliveries = Deliveries()
        let response = lock.withLock { () -> LeaveGroupResponse in
            let leaving =
                version >= 3 ? request.members : [LeaveGroupRequest.MemberIdentity(memberId: request.memberId)]
            if let error = unavailableError(groupId: request.groupId, emptyIdAllowed: false) {
                return GroupStateMachine.leaveResponse(
                    topLevel: error, members: leaving.map { ($0, error) }, version: version)
            }
            guard groups[request.groupId] != nil else {
                return GroupStateMachine.leaveResponse(
                    topLevel: .none, members: leaving.map { ($0, .unknownMemberId) }, version: version)
            }
            let token = makeToken()
            performLocked(
                groups[request.groupId]!.leave(request, version: version, token: token, now: now()), into: &deliveries)
            forgetIfPossible(request.groupId)
            guard case .respondLeave(_, let response)? = deliveries.unclaimed.removeValue(forKey: token) else {
                return LeaveGroupResponse(errorCode: .unknownServerError)
            }
            return response
        }
        deliveries.deliver()
        return response
    }

    // MARK: - Offsets (OffsetCommit, OffsetFetch, OffsetDelete)

    /// OffsetCommit: unknown partitions get UNKNOWN_TOPIC_OR_PARTITION; then the group checks the
    /// committer (generation -1 without a member id is a "simple" commit, allowed only for empty
    /// groups); then each partition's metadata size is checked and the offsets are persisted.
    public func handle(_ request: OffsetCommitRequest, version: Int16) -> OffsetCommitResponse {
        lock.withLock { () -> OffsetCommitResponse in
            var codes = request.topics.map { topic in topic.partitions.map { _ in KafkaErrorCode.none } }
            func response() -> OffsetCommitResponse {
                OffsetCommitResponse(
                    topics: zip(request.topics, codes).map { topic, topicCodes in
                        .init(
                            name: topic.name,
                            partitions: zip(topic.partitions, topicCodes).map {
                                .init(partitionIndex: $0.partitionIndex, errorCode: $1)
                            })
                    })
            }
            if let error = unavailableError(groupId: request.groupId, emptyIdAllowed: true) {
                codes = codes.map { $0.map { _ in error } }
                return response()
            }
            let now = self.now()
            for (t, topic) in request.topics.enumerated() {
                for (p, partition) in topic.partitions.enumerated()
                where !topicPartitionExists(topic.name, partition.partitionIndex) {
                    codes[t][p] = .unknownTopicOrPartition
                }
            }
            let generation = request.generationIdOrMemberEpoch
            let instanceId = version >= 7 ? request.groupInstanceId : nil
            let groupError: KafkaErrorCode
            if groups[request.groupId] != nil {
                groupError = groups[request.groupId]!.validateOffsetCommit(
                    generationId: generation, memberId: request.memberId, groupInstanceId: instanceId, now: now)
            } else {
                // No such group: fine for a simple commit (it creates the group), else a stale member.
                groupError =
                    generation < 0 && request.memberId.isEmpty && instanceId == nil ? .none : .illegalGeneration
            }
            // v2-v4 retention_time_ms (-1: the broker's retention) gives these offsets their own
            // expiry time, measured from now, as Kafka does.
            let expireTimestampMs: Int64? =
                (2...4).contains(version) && request.retentionTimeMs != -1
                ? now &+ request.retentionTimeMs : nil
            var commits: [(t: Int, p: Int, record: OffsetCommitRecord)] = []
            for (t, topic) in request.topics.enumerated() {
                for (p, partition) in topic.partitions.enumerated() where codes[t][p] == .none {
                    if groupError != .none {
                        codes[t][p] = groupError
                        continue
                    }
                    let metadata = partition.committedMetadata ?? ""
                    if metadata.utf8.count > config.maxOffsetMetadataBytes {
                        codes[t][p] = .offsetMetadataTooLarge
                        continue
                    }
                    commits.append(
                        (
                            t, p,
                            OffsetCommitRecord(
                                groupId: request.groupId, topic: topic.name, partition: partition.partitionIndex,
                                offset: partition.committedOffset,
                                leaderEpoch: version >= 6 ? partition.committedLeaderEpoch : -1, metadata: metadata,
                                commitTimestampMs: version == 1 && partition.commitTimestamp >= 0
                                    ? partition.commitTimestamp : now,
                                expireTimestampMs: expireTimestampMs)
                        ))
                }
            }
            guard !commits.isEmpty else { return response() }
            do {
                try store.append(commits.map { .offset($0.record) })
            } catch {
                logger.error(
                    "offset commit not persisted", metadata: ["group": "\(request.groupId)", "error": "\(error)"])
                for commit in commits { codes[commit.t][commit.p] = .coordinatorNotAvailable }
                return response()
            }
            if groups[request.groupId] == nil {
                groups[request.groupId] = GroupStateMachine(groupId: request.groupId, config: config, now: now)
            }
            groups[request.groupId]!.applyOffsetCommits(commits.map(\.record))
            return response()
        }
    }

    /// OffsetFetch, all versions: v0-7 one group (topics nil = all committed partitions, v2+), v8+
    /// several groups. Partitions without a commit get offset -1. Transactional offset commits are
    /// not supported, so nothing is ever pending and `requireStable` never yields
    /// UNSTABLE_OFFSET_COMMIT.
    public func handle(_ request: OffsetFetchRequest, version: Int16) -> OffsetFetchResponse {
        lock.withLock { () -> OffsetFetchResponse in
            if version >= 8 {
                return OffsetFetchResponse(
                    groups: request.groups.map { group in
                        let (error, topics) = fetchOffsetsLocked(
                            groupId: group.groupId,
                            topics: group.topics.map { $0.map { ($0.name, $0.partitionIndexes) } })
                        return .init(
                            groupId: group.groupId,
                            topics: topics.map { topic in
                                .init(
                                    name: topic.name,
                                    partitions: topic.partitions.map {
                                        .init(
                                            partitionIndex: $0.partitionIndex, committedOffset: $0.committedOffset,
                                            committedLeaderEpoch: $0.committedLeaderEpoch, metadata: $0.metadata,
                                            errorCode: $0.errorCode)
                                    })
                            }, errorCode: error)
                    })
            }
            let (error, topics) = fetchOffsetsLocked(
                groupId: request.groupId, topics: request.topics.map { $0.map { ($0.name, $0.partitionIndexes) } })
            return OffsetFetchResponse(topics: topics, errorCode: error)
        }
    }

    private func fetchOffsetsLocked(
        groupId: String, topics requested: [(String, [Int32])]?
    ) -> (KafkaErrorCode, [OffsetFetchResponse.OffsetFetchResponseTopic]) {
        func partition(_ index: Int32, _ retained: RetainedOffset?, _ error: KafkaErrorCode)
            -> OffsetFetchResponse.OffsetFetchResponsePartition
        {
            let committed = retained?.committed
            return .init(
                partitionIndex: index, committedOffset: committed?.offset ?? -1,
                committedLeaderEpoch: committed?.leaderEpoch ?? -1, metadata: committed?.metadata ?? "",
                errorCode: error)
        }
        if let error = unavailableError(groupId: groupId, emptyIdAllowed: true) {
            // v0-1 have no group-level code: every partition carries it too.
            return (
                error,
                (requested ?? []).map { name, indexes in
                    .init(name: name, partitions: indexes.map { partition($0, nil, error) })
                }
            )
        }
        let offsets = groups[groupId]?.offsets ?? [:]
        if let requested {
            return (
                .none,
                requested.map { name, indexes in
                    .init(
                        name: name, partitions: indexes.map { partition($0, offsets[TopicPartition(name, $0)], .none) })
                }
            )
        }
        var byTopic: [String: [OffsetFetchResponse.OffsetFetchResponsePartition]] = [:]
        for (key, committed) in offsets.sorted(by: { $0.key < $1.key }) {
            byTopic[key.topic, default: []].append(partition(key.partition, committed, .none))
        }
        return (.none, byTopic.keys.sorted().map { .init(name: $0, partitions: byTopic[$0]!) })
    }

    /// OffsetDelete: allowed for empty groups, and for consumer groups on topics no member subscribes to.
    public func handle(_ request: OffsetDeleteRequest, version: Int16) -> OffsetDeleteResponse {
        lock.withLock { () -> OffsetDeleteResponse in
            if let error = unavailableError(groupId: request.groupId, emptyIdAllowed: false) {
                return OffsetDeleteResponse(errorCode: error)
            }
            guard let group = groups[request.groupId] else {
                return OffsetDeleteResponse(errorCode: .groupIdNotFound)
            }
            let groupError = group.offsetDeleteError
            guard groupError == .none else { return OffsetDeleteResponse(errorCode: groupError) }
            var codes = request.topics.map { topic in topic.partitions.map { _ in KafkaErrorCode.none } }
            var doomed: [TopicPartition] = []
            for (t, topic) in request.topics.enumerated() {
                for (p, partition) in topic.partitions.enumerated() {
                    if !topicPartitionExists(topic.name, partition.partitionIndex) {
                        codes[t][p] = .unknownTopicOrPartition
                    } else if group.isSubscribed(toTopic: topic.name) {
                        codes[t][p] = .groupSubscribedToTopic
                    } else {
                        doomed.append(TopicPartition(topic.name, partition.partitionIndex))
                    }
                }
            }
            let tombstones = doomed.filter { group.offsets[$0] != nil }.map {
                GroupRecord.offsetTombstone(groupId: request.groupId, topic: $0.topic, partition: $0.partition)
            }
            if !tombstones.isEmpty {
                do {
                    try store.append(tombstones)
                } catch {
                    logger.error(
                        "offset deletion not persisted", metadata: ["group": "\(request.groupId)", "error": "\(error)"])
                    return OffsetDeleteResponse(errorCode: .coordinatorNotAvailable)
                }
            }
            _ = groups[request.groupId]!.deleteOffsets(doomed)
            forgetIfPossible(request.groupId)
            return OffsetDeleteResponse(
                errorCode: .none,
                topics: zip(request.topics, codes).map { topic, topicCodes in
                    .init(
                        name: topic.name,
                        partitions: zip(topic.partitions, topicCodes).map {
                            .init(partitionIndex: $0.partitionIndex, errorCode: $1)
                        })
                })
        }
    }

    // MARK: - Admin (ListGroups, DescribeGroups, DeleteGroups)

    /// ListGroups, with the v4 states filter and v5 types filter (all groups here are "classic").
    public func handle(_ request: ListGroupsRequest, version: Int16) -> ListGroupsResponse {
        lock.withLock { () -> ListGroupsResponse in
            if let error = unavailableError(groupId: nil, emptyIdAllowed: true) {
                return ListGroupsResponse(errorCode: error)
            }
            let states = version >= 4 ? Set(request.statesFilter.map { $0.lowercased() }) : []
            let types = version >= 5 ? Set(request.typesFilter.map { $0.lowercased() }) : []
            if !types.isEmpty && !types.contains("classic") { return ListGroupsResponse() }
            let listed = groups.values
                .filter { $0.state != .dead && (states.isEmpty || states.contains($0.state.rawValue.lowercased())) }
                .sorted { $0.groupId < $1.groupId }
                .map(\.listing)
            return ListGroupsResponse(groups: listed)
        }
    }

    /// DescribeGroups: an unknown group is reported as Dead with no error (as Kafka does up to v5).
    public func handle(_ request: DescribeGroupsRequest, version: Int16) -> DescribeGroupsResponse {
        lock.withLock { () -> DescribeGroupsResponse in
            let includeOperations = version >= 3 && request.includeAuthorizedOperations
            return DescribeGroupsResponse(
                groups: request.groups.map { groupId in
                    if let error = unavailableError(groupId: groupId, emptyIdAllowed: true) {
                        return .init(errorCode: error, groupId: groupId)
                    }
                    guard let group = groups[groupId] else {
                        return .init(
                            errorCode: .none, groupId: groupId, groupState: GroupState.dead.rawValue,
                            protocolType: "", protocolData: "", members: [])
                    }
                    return group.describe(includeAuthorizedOperations: includeOperations)
                })
        }
    }

    /// DeleteGroups: only empty groups; their offsets go too.
    public func handle(_ request: DeleteGroupsRequest, version: Int16) -> DeleteGroupsResponse {
        lock.withLock { () -> DeleteGroupsResponse in
            DeleteGroupsResponse(
                results: request.groupsNames.map { groupId in
                    .init(groupId: groupId, errorCode: deleteGroupLocked(groupId))
                })
        }
    }

    private func deleteGroupLocked(_ groupId: String) -> KafkaErrorCode {
        if let error = unavailableError(groupId: groupId, emptyIdAllowed: true) { return error }
        guard let group = groups[groupId] else { return .groupIdNotFound }
        let error = group.deleteError
        guard error == .none else { return error }
        do {
            try store.append(group.deletionRecords)
        } catch {
            logger.error("group deletion not persisted", metadata: ["group": "\(groupId)", "error": "\(error)"])
            return .coordinatorNotAvailable
        }
        groups.removeValue(forKey: groupId)
        return .none
    }

    // MARK: - Inspection (tests, status pages)

    /// A copy of one group's state machine.
    public func group(_ groupId: String) -> GroupStateMachine? {
        lock.withLock { groups[groupId] }
    }

    /// Number of JoinGroup/SyncGroup requests waiting for an answer.
    public var parkedRequestCount: Int {
        lock.withLock { joinWaiters.count + syncWaiters.count }
    }

    // MARK: - Plumbing

    /// Continuations to resume after the lock is released, and answers nobody waits for (the
    /// immediate answers of Heartbeat and LeaveGroup, picked up by their caller).
    private struct Deliveries {
        var resumptions: [() -> Void] = []
        var unclaimed: [RequestToken: GroupAction] = [:]

        mutating func add(_ resume: @escaping () -> Void) { resumptions.append(resume) }

        func deliver() {
            for resume in resumptions { resume() }
        }
    }

    private func performLocked(_ actions: [GroupAction], into deliveries: inout Deliveries) {
        for action in actions {
            switch action {
            case .persist(let record):
                do {
                    try store.append([record])
                } catch {
                    // The in-memory group stays authoritative; after a restart the previous
                    // generation's record is replayed and members rejoin.
                    logger.error(
                        "group metadata not persisted",
                        metadata: ["group": "\(record.key.groupId)", "error": "\(error)"])
                }
            case .respondJoin(let token, let response):
                if let waiter = joinWaiters.removeValue(forKey: token) {
                    deliveries.add { waiter.resume(returning: response) }
                } else {
                    deliveries.unclaimed[token] = action
                }
            case .respondSync(let token, let response):
                if let waiter = syncWaiters.removeValue(forKey: token) {
                    deliveries.add { waiter.resume(returning: response) }
                } else {
                    deliveries.unclaimed[token] = action
                }
            case .respondHeartbeat(let token, _), .respondLeave(let token, _):
                deliveries.unclaimed[token] = action
            }
        }
    }

    /// Errors that do not depend on the group's state: loading, shut down, invalid group id.
    private func unavailableError(groupId: String?, emptyIdAllowed: Bool) -> KafkaErrorCode? {
        switch phase {
        case .loading: return .coordinatorLoadInProgress
        case .shutDown: return .notCoordinator
        case .active: break
        }
        if let groupId, groupId.isEmpty && !emptyIdAllowed { return .invalidGroupId }
        return nil
    }

    private func makeToken() -> RequestToken {
        nextToken += 1
        return RequestToken(nextToken)
    }

    private func forgetIfPossible(_ groupId: String) {
        if groups[groupId]?.isForgettable == true { groups.removeValue(forKey: groupId) }
    }
}
