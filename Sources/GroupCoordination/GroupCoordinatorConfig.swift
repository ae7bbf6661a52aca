/// Limits and timeouts of the group coordinator. Defaults are Kafka's broker defaults.
public struct GroupCoordinatorConfig: Sendable, Equatable {
    /// `group.min.session.timeout.ms`: a JoinGroup with a shorter session timeout gets
    /// INVALID_SESSION_TIMEOUT.
    public var minSessionTimeoutMs: Int32
    /// `group.max.session.timeout.ms`: a JoinGroup with a longer session timeout gets
    /// INVALID_SESSION_TIMEOUT.
    public var maxSessionTimeoutMs: Int32
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for
    /// more members, restarted for every newcomer, capped by the rebalance timeout.
    public var initialRebalanceDelayMs: Int32
    /// `group.max.size`: members beyond this get GROUP_MAX_SIZE_REACHED.
    public var maxGroupSize: Int
    /// `offset.metadata.max.bytes`: longer commit metadata gets OFFSET_METADATA_TOO_LARGE.
    public var maxOffsetMetadataBytes: Int
    /// `offsets.retention.minutes` in milliseconds (default 7 days): how long committed offsets are
    /// kept once they can expire (KIP-211: after the group became empty, or after the commit for
    /// standalone commits and topics a stable consumer group no longer subscribes to).
    public var offsetsRetentionMs: Int64
    /// `offsets.retention.check.interval.ms`: how often `tick()` looks for expired offsets.
    public var offsetsRetentionCheckIntervalMs: Int64

    public init(
        minSessionTimeoutMs: Int32 = 6_000,
        maxSessionTimeoutMs: Int32 = 1_800_000,
        initialRebalanceDelayMs: Int32 = 3_000,
        maxGroupSize: Int = Int(Int32.max),
        maxOffsetMetadataBytes: Int = 4_096,
        offsetsRetentionMs: Int64 = 7 * 24 * 60 * 60 * 1_000,
        offsetsRetentionCheckIntervalMs: Int64 = 600_000
    ) {
        self.minSessionTimeoutMs = minSessionTimeoutMs
        self.maxSessionTimeoutMs = maxSessionTimeoutMs
        self.initialRebalanceDelayMs = initialRebalanceDelayMs
        self.maxGroupSize = maxGroupSize
        self.maxOffsetMetadataBytes = maxOffsetMetadataBytes
        self.offsetsRetentionMs = offsetsRetentionMs
        self.offsetsRetentionCheckIntervalMs = offsetsRetentionCheckIntervalMs
    }
}
