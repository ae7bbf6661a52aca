import Foundation
import KafkaClient
import KafkaProtocol
import KafkaRecords

/// A drill's records: key = the sequence number in decimal; value = the sequence number and the
/// produce time, 8 bytes each, big-endian.
enum DrillRecord {
    static func value(sequence: Int64, producedAt: Int64) -> [UInt8] {
        withUnsafeBytes(of: sequence.bigEndian, Array.init) + withUnsafeBytes(of: producedAt.bigEndian, Array.init)
    }

    static func sequence(of value: [UInt8]?) -> Int64? {
        guard let value, value.count == 16 else { return nil }
        return value[0..<8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }
}

/// The drill's observations, shared by its producer and consumers.
final class DrillRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var seen = DrillObservations()
    private var nextSequence: Int64 = 0
    /// Records numbered from here were produced at the standby.
    private var standbyFrom: Int64?

    var observations: DrillObservations { lock.withLock { seen } }

    func take(_ count: Int) -> Range<Int64> {
        lock.withLock {
            defer { nextSequence += Int64(count) }
            return nextSequence..<(nextSequence + Int64(count))
        }
    }

    func produced(_ numbers: Range<Int64>, at time: Int64) {
        lock.withLock { for number in numbers { seen.producedAt[number] = time } }
    }

    func acked(_ numbers: Range<Int64>, atStandby: Bool, at time: Int64) {
        lock.withLock {
            for number in numbers {
                if atStandby { seen.ackedAtStandby.insert(number) } else { seen.ackedAtPrimary[number] = time }
            }
        }
    }

    func consumed(_ numbers: [Int64], at time: Int64) {
        lock.withLock {
            seen.consumed += numbers
            if seen.firstStandbyConsumeAt == nil, let from = standbyFrom, numbers.contains(where: { $0 >= from }) {
                seen.firstStandbyConsumeAt = time
            }
        }
    }

    func disaster(at time: Int64) { lock.withLock { seen.disasterAt = time } }

    /// Producing moves to the standby: later numbers are the standby's.
    func moveToStandby() { lock.withLock { standbyFrom = nextSequence } }

    func present(atStandby numbers: Set<Int64>) { lock.withLock { seen.presentAtStandby = numbers } }
}

/// Asks a producer or consumer to stop between two requests (a cancelled task stops wherever it is).
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    var isSet: Bool { lock.withLock { stopped } }
    func set() { lock.withLock { stopped = true } }
}

/// Produces sequence-numbered records at `rate` per second with acks=all, spread round-robin
/// over the partitions, until stopped. A refused or unanswered batch is not acknowledged (its
/// numbers are never retried); a fenced topic stops the producer.
struct DrillProducer {
    let cluster: KafkaCluster
    let topic: String
    let partitions: Int32
    let rate: Int
    let atStandby: Bool
    let recorder: DrillRecorder
    let stop: StopSignal

    /// Runs until stopped, cancelled or fenced; returns the last error seen, if any.
    func run() async -> String? {
        let start = ContinuousClock.now
        var sent = 0
        var lastError: String?
        while !Task.isCancelled && !stop.isSet {
            let elapsed = ContinuousClock.now - start
            let due = Int(
                Double(rate) * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            let count = min(due - sent, max(1, rate / 10))
            if count <= 0 {
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            sent += count
            let numbers = recorder.take(count)
            let now = FailoverRunner.now()
            var builders: [Int32: RecordBatchBuilder] = [:]
            var byPartition: [Int32: [Int64]] = [:]
            for number in numbers {
                let partition = Int32(number % Int64(partitions))
                builders[partition, default: RecordBatchBuilder()].append(
                    key: Array(String(number).utf8), value: DrillRecord.value(sequence: number, producedAt: now),
                    timestamp: now)
                byPartition[partition, default: []].append(number)
            }
            recorder.produced(numbers, at: now)
            var batches: [TopicPartition: StoredBatch] = [:]
            do {
                for (partition, builder) in builders { batches[TopicPartition(topic, partition)] = try builder.build() }
                let results = try await cluster.produce(batches, acks: -1, timeoutMs: 5_000)
                let ackedAt = FailoverRunner.now()
                for (partition, result) in results {
                    guard result.isSuccess, let numbers = byPartition[partition.partition] else {
                        lastError =
                            "\(result.errorCode) \(result.errorMessage ?? result.clientError.map { "\($0)" } ?? "")"
                        if result.errorCode == .invalidTopicException { return lastError }
                        continue
                    }
                    for number in numbers { recorder.acked(number..<(number + 1), atStandby: atStandby, at: ackedAt) }
                }
            } catch {
                lastError = "\(error)"
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        return lastError
    }
}

/// One member of the drill's group: reads its share of the partitions (partition % members ==
/// index) from the group's committed offsets (the log start without one), and commits after
/// every fetch. A simple (manually assigned) group: the members commit with generation -1.
struct DrillConsumer {
    let cluster: KafkaCluster
    let topic: String
    let partitions: [Int32]
    let group: String
    let recorder: DrillRecorder
    let stop: StopSignal

    /// Runs until stopped (after a fetch and its commit) or cancelled.
    func run() async {
        var positions: [TopicPartition: Offset] = [:]
        while positions.isEmpty && !Task.isCancelled && !stop.isSet {
            do {
                let committed = try await cluster.fetchCommittedOffsets(group: group)
                let starts = try await cluster.listOffsets(
                    Set(partitions.map { TopicPartition(topic, $0) }), spec: .earliest)
                for partition in partitions {
                    let key = TopicPartition(topic, partition)
                    positions[key] = try committed[key]?.offset ?? starts[key]?.get().offset ?? 0
                }
            } catch {
                positions = [:]
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        while !Task.isCancelled && !stop.isSet {
            do {
                let fetched = try await cluster.fetch(
                    positions.mapValues { FetchPosition(offset: $0, maxBytes: 1 << 20) },
                    options: FetchOptions(maxWaitMs: 100))
                var numbers: [Int64] = []
                var commits: [TopicPartition: CommittedOffset] = [:]
                for (partition, result) in fetched where result.errorCode == .none {
                    guard let next = result.nextOffset, let position = positions[partition] else { continue }
                    for batch in result.batches where !batch.header.isControl {
                        for record in try RecordBatchDecoder.records(in: batch) where record.offset >= position {
                            if let number = DrillRecord.sequence(of: record.value) { numbers.append(number) }
                        }
                    }
                    positions[partition] = next
                    commits[partition] = CommittedOffset(offset: next)
                }
                guard !commits.isEmpty else { continue }
                // Consumed once processed; a commit that fails makes the next run read them again.
                recorder.consumed(numbers, at: FailoverRunner.now())
                _ = try await cluster.commitOffsets(group: group, offsets: commits)
            } catch {
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
