import KafkaProtocol
import NIOCore

/// A group as ListGroups reports it.
public struct GroupListing: Hashable, Sendable {
    public var groupId: String
    /// "consumer", "connect", ... or "" for groups that only store offsets.
    public var protocolType: String
    /// nil when the broker is older than ListGroups v4.
    public var state: String?
    /// "classic" or "consumer"; nil before ListGroups v5.
    public var type: String?
    /// The broker that answered for the group (its coordinator).
    public var coordinator: Int32
}

public struct GroupMemberDescription: Hashable, Sendable {
    public var memberId: String
    public var groupInstanceId: String?
    public var clientId: String
    public var clientHost: String
    /// The raw member metadata and assignment, as the group protocol encoded them.
    public var metadata: [UInt8]
    public var rawAssignment: [UInt8]
    /// For protocol type "consumer": the decoded assignment. nil for other protocol types, or
    /// when the bytes could not be decoded (see `assignmentError`).
    public var assignment: [TopicPartition]?
    public var assignmentError: String?
}

public struct GroupDescription: Hashable, Sendable {
    public var groupId: String
    /// "Stable", "Empty", "PreparingRebalance", "CompletingRebalance", "Dead", ...
    public var state: String
    public var protocolType: String
    /// The chosen protocol (for consumer groups: the assignor, e.g. "range").
    public var protocolName: String
    public var members: [GroupMemberDescription]
    public var coordinator: BrokerNode
    /// -2147483648 when not requested or not known.
    public var authorizedOperations: Int32

    /// Kafka reports a group it does not know as state "Dead" (before DescribeGroups v6,
    /// which answers GROUP_ID_NOT_FOUND instead).
    public var isDead: Bool { state == "Dead" }
}

/// Decodes a consumer group member's assignment (ConsumerProtocolAssignment with its INT16
/// version prefix). Versions newer than the schema are read as the newest known one: the format
/// only ever appends fields. An empty byte array is an empty assignment.
public func decodeConsumerAssignment(_ bytes: [UInt8]) throws -> [TopicPartition] {
    guard !bytes.isEmpty else { return [] }
    var buffer = ByteBuffer(bytes: bytes)
    guard let version = buffer.readInteger(as: Int16.self) else {
        throw KafkaDecodingError.truncated(what: "ConsumerProtocolAssignment.Version")
    }
    guard version >= 0 else { throw KafkaDecodingError.unsupportedVersion(apiKey: -1, version: version) }
    let readVersion = min(version, ConsumerProtocolAssignment.validVersions.upperBound)
    let assignment = try ConsumerProtocolAssignment(from: &buffer, version: readVersion)
    return assignment.assignedPartitions.flatMap { topic in topic.partitions.map { TopicPartition(topic.topic, $0) } }
        .sorted()
}

extension KafkaCluster {
    /// Every group on every broker (ListGroups is answered per coordinator, so each broker in
    /// the metadata is asked). Fails if any broker cannot answer after retries, so a partial
    /// list is never mistaken for the whole.
    public func listGroups(statesFilter: [String] = []) async throws -> [GroupListing] {
        let brokers = try await withRetries("Metadata") { try await refreshMetadata(topics: []) }.brokers.values
        let perBroker = try await withThrowingTaskGroup(of: [GroupListing].self) { group in
            for broker in brokers {
                group.addTask { try await self.listGroups(on: broker, statesFilter: statesFilter) }
            }
            var all: [GroupListing] = []
            for try await listings in group { all += listings }
            return all
        }
        return perBroker.sorted { $0.groupId < $1.groupId }
    }

    private func listGroups(on broker: BrokerNode, statesFilter: [String]) async throws -> [GroupListing] {
        try await withRetries("ListGroups on broker \(broker.nodeId)") {
            let connection = try await connection(to: broker)
            let version = try connection.version(for: .listGroups, within: statesFilter.isEmpty ? nil : 4...Int16.max)
            let response = try await connection.send(ListGroupsRequest(statesFilter: statesFilter), version: version)
            let code = response.errorCode
            if code.isError {
                throw KafkaClientError.broker(code, message: nil, context: "ListGroups on broker \(broker.nodeId)")
            }
            return response.groups.map {
                GroupListing(
                    groupId: $0.groupId, protocolType: $0.protocolType,
                    state: version >= 4 ? $0.groupState : nil, type: version >= 5 ? $0.groupType : nil,
                    coordinator: broker.nodeId)
            }
        }
    }

    /// Describes `groups` (grouped by coordinator, one DescribeGroups per coordinator). Each
    /// group's result is separate: one unknown group does not fail the others.
    public func describeGroups(_ groups: [String]) async throws -> [String: Result<GroupDescription, KafkaClientError>]
    {
        var results: [String: Result<GroupDescription, KafkaClientError>] = [:]
        for groupId in Set(groups) {
            // One group at a time keeps retries (NOT_COORDINATOR, loading) per group; batching per
            // coordinator is a later optimisation.
            do {
                results[groupId] = .success(try await describeGroup(groupId))
            } catch let error as KafkaClientError {
                results[groupId] = .failure(error)
            }
        }
        return results
    }

    /// Describes one group. Unknown groups come back in state "Dead" (see `GroupDescription.isDead`).
    public func describeGroup(_ groupId: String) async throws -> GroupDescription {
        try await withRetries("DescribeGroups \(groupId)") {
            let coordinator = try await groupCoordinator(for: groupId)
            let connection = try await coordinatorConnection(for: groupId)
            let version = try connection.version(for: .describeGroups)
            let response = try await connection.send(DescribeGroupsRequest(groups: [groupId]), version: version)
            guard let described = response.groups.first(where: { $0.groupId == groupId }) else {
                throw KafkaClientError.protocolViolation(
                    connection.address, "DescribeGroups response has no entry for '\(groupId)'")
            }
            let code = described.errorCode
            if code.invalidatesCoordinator { invalidateCoordinator(for: groupId) }
            if code.isError {
                throw KafkaClientError.broker(code, message: nil, context: "DescribeGroups for '\(groupId)'")
            }
            let members = described.members.map { member in
                var description = GroupMemberDescription(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                    clientHost: member.clientHost, metadata: member.memberMetadata,
                    rawAssignment: member.memberAssignment,
                    assignment: nil, assignmentError: nil)
                if described.protocolType == "consumer" {
                    do {
                        description.assignment = try decodeConsumerAssignment(member.memberAssignment)
                    } catch {
                        description.assignmentError = "\(error)"
                    }
                }
                return description
            }
            return GroupDescription(
                groupId: described.groupId, state: described.groupState,
                protocolType: described.protocolType, protocolName: described.protocolData,
                members: members, coordinator: coordinator,
                authorizedOperations: described.authorizedOperations)
        }
    }

    /// The offsets `groupId` has committed, for every partition (OffsetFetch with a null topic
    /// list, so v2+). Partitions without a committed offset are left out.
    public func fetchCommittedOffsets(group groupId: String, requireStable: Bool = false) async throws
        -> [TopicPartition: CommittedOffset]
    {
        try await withRetries("OffsetFetch \(groupId)") {
            let connection = try await coordinatorConnection(for: groupId)
            // Null topics ("all partitions") exists from v2; requireStable from v7.
            let version = try connection.version(for: .offsetFetch, within: (requireStable ? 7 : 2)...Int16.max)
            let response: OffsetFetchResponse
            var partitions:
                [(topic: String, index: Int32, offset: Int64, epoch: Int32, metadata: String?, error: KafkaErrorCode)] =
                    []
            if version >= 8 {
                let request = OffsetFetchRequest(
                    groups: [.init(groupId: groupId, memberId: nil, memberEpoch: -1, topics: nil)],
                    requireStable: requireStable)
                response = try await connection.send(request, version: version)
                guard let group = response.groups.first(where: { $0.groupId == groupId }) else {
                    throw KafkaClientError.protocolViolation(
                        connection.address, "OffsetFetch response has no entry for '\(groupId)'")
                }
                try checkGroupError(group.errorCode, groupId: groupId)
                for topic in group.topics {
                    for p in topic.partitions {
                        partitions.append(
                            (
                                topic.name, p.partitionIndex, p.committedOffset, p.committedLeaderEpoch, p.metadata,
                                p.errorCode
                            ))
                    }
                }
            } else {
                response = try await connection.send(
                    OffsetFetchRequest(groupId: groupId, topics: nil, requireStable: requireStable), version: version)
                try checkGroupError(response.errorCode, groupId: groupId)
                for topic in response.topics {
                    for p in topic.partitions {
                        partitions.append(
                            (
                                topic.name, p.partitionIndex, p.committedOffset, p.committedLeaderEpoch, p.metadata,
                                p.errorCode
                            ))
                    }
                }
            }
            var offsets: [TopicPartition: CommittedOffset] = [:]
            for p in partitions {
                let tp = TopicPartition(p.topic, p.index)
                let code = p.error
                if code.isError {
                    // e.g. UNSTABLE_OFFSET_COMMIT (retriable) or an authorization failure.
                    throw KafkaClientError.broker(code, message: nil, context: "OffsetFetch for '\(groupId)' \(tp)")
                }
                guard p.offset >= 0 else { continue }  // -1: nothing committed
                offsets[tp] = CommittedOffset(
                    offset: p.offset, leaderEpoch: version >= 5 && p.epoch >= 0 ? p.epoch : nil,
                    metadata: p.metadata ?? "")
            }
            return offsets
        }
    }

    private func checkGroupError(_ code: KafkaErrorCode, groupId: String) throws {
        if code.invalidatesCoordinator { invalidateCoordinator(for: groupId) }
        if code.isError {
            throw KafkaClientError.broker(code, message: nil, context: "OffsetFetch for '\(groupId)'")
        }
    }
}
