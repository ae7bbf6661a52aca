import KafkaProtocol
/// What `kafka-consumer-groups --describe` shows for a group: one row per partition that has a
/// committed offset or is assigned to a member, with the log end offset and the lag. Pure, so the
/// CLI, the replicator's lag metrics and tests share one definition of lag.
public struct GroupOffsetsReport: Hashable, Sendable {
    public struct Row: Hashable, Sendable {
        public var partition: TopicPartition
        /// nil: nothing committed.
        public var committedOffset: Offset?
        /// nil: the log end offset could not be read (see `logEndError`).
        public var logEndOffset: Offset?
        public var logEndError: String?
        /// logEndOffset - committedOffset, when both are known.
        public var lag: Int64?
        /// The member the partition is assigned to, if any.
        public var memberId: String?
        public var clientHost: String?
        public var clientId: String?
    }

    public var groupId: String
    public var rows: [Row]
    /// Members with no partition assigned (still shown by the CLI, with "-" columns).
    public var membersWithoutPartitions: [GroupMemberDescription]

    /// The lag of a consumer at `committed` on a log ending at `logEnd`: nil unless both are known
    /// (a negative value would mean the log was truncated below the committed offset and is kept,
    /// so it shows up rather than hiding as 0).
    public static func lag(committed: Offset?, logEnd: Offset?) -> Int64? {
        guard let committed, committed >= 0, let logEnd, logEnd >= 0 else { return nil }
        return logEnd - committed
    }

    /// The sum of the known lags.
    public var totalLag: Int64 { rows.compactMap(\.lag).reduce(0, +) }

    public init(groupId: String, rows: [Row], membersWithoutPartitions: [GroupMemberDescription]) {
        self.groupId = groupId
        self.rows = rows
        self.membersWithoutPartitions = membersWithoutPartitions
    }

    /// Joins a group description, its committed offsets and the log end offsets into rows,
    /// sorted by topic and partition.
    public init(
        description: GroupDescription?, committed: [TopicPartition: CommittedOffset],
        logEndOffsets: [TopicPartition: Result<ListedOffset, KafkaClientError>], groupId: String
    ) {
        var owner: [TopicPartition: GroupMemberDescription] = [:]
        var idle: [GroupMemberDescription] = []
        for member in description?.members ?? [] {
            let assigned = member.assignment ?? []
            if assigned.isEmpty { idle.append(member) }
            for tp in assigned { owner[tp] = member }
        }
        let partitions = Set(committed.keys).union(owner.keys).sorted()
        let rows = partitions.map { tp -> Row in
            let committedOffset = committed[tp]?.offset
            var logEnd: Int64?
            var logEndError: String?
            switch logEndOffsets[tp] {
            case let .success(listed)?: logEnd = listed.offset >= 0 ? listed.offset : nil
            case let .failure(error)?: logEndError = error.description
            case nil: logEndError = "not requested"
            }
            let member = owner[tp]
            return Row(
                partition: tp, committedOffset: committedOffset, logEndOffset: logEnd, logEndError: logEndError,
                lag: Self.lag(committed: committedOffset, logEnd: logEnd),
                memberId: member?.memberId, clientHost: member?.clientHost, clientId: member?.clientId)
        }
        self.init(groupId: groupId, rows: rows, membersWithoutPartitions: idle.sorted { $0.memberId < $1.memberId })
    }
}

extension KafkaCluster {
    /// Describes `groupId` and reads its committed offsets and the log end offsets of every
    /// partition it has committed or been assigned: everything `strait groups describe` shows.
    public func groupOffsetsReport(_ groupId: String) async throws -> (
        description: GroupDescription, report: GroupOffsetsReport
    ) {
        let description = try await describeGroup(groupId)
        let committed = try await fetchCommittedOffsets(group: groupId)
        let assigned = description.members.flatMap { $0.assignment ?? [] }
        let partitions = Set(committed.keys).union(assigned)
        let logEnds = partitions.isEmpty ? [:] : try await listOffsets(partitions, spec: .latest)
        return (
            description,
            GroupOffsetsReport(
                description: description, committed: committed,
                logEndOffsets: logEnds, groupId: groupId)
        )
    }
}
