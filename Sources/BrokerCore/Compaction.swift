import LogStorage

extension TopicConfigs {
    /// This topic's compaction settings: the catalog defaults with its overrides applied.
    public func compactionOptions(broker: BrokerConfig) -> CompactionOptions {
        CompactionOptions(
            deleteRetentionMs: long("delete.retention.ms", broker: broker),
            minCompactionLagMs: long("min.compaction.lag.ms", broker: broker),
            maxCompactionLagMs: long("max.compaction.lag.ms", broker: broker),
            minCleanableDirtyRatio: Double(value("min.cleanable.dirty.ratio", broker: broker)) ?? 0.5)
    }
}

extension Broker {
    /// One round of the log cleaner: every partition of a topic whose cleanup.policy includes
    /// `compact` gets a compaction pass if it has something to clean (new closed segments past
    /// the dirty ratio, or a tombstone whose delete horizon has passed). Returns the passes run.
    /// Runs on the caller's thread; appends and fetches go on meanwhile.
    @discardableResult
    public func compactLogs() -> Int {
        var passes = 0
        for topic in allTopics() {
            let configs = lock.withLock { topic.configs }
            guard configs.isCompacted else { continue }
            let options = configs.compactionOptions(broker: config)
            for partition in topic.partitions {
                let now = now()
                guard partition.log.compactionDue(now: now, options: options) else { continue }
                do {
                    let result = try partition.log.compact(now: now, options: options)
                    passes += 1
                    logger.debug(
                        "compaction pass",
                        metadata: ["partition": "\(topic.name)-\(partition.index)", "result": "\(result)"])
                } catch LogError.closed {
                    // Deleted or shut down meanwhile.
                } catch {
                    logger.error(
                        "compaction failed",
                        metadata: ["partition": "\(topic.name)-\(partition.index)", "error": "\(error)"])
                }
            }
        }
        return passes
    }
}
