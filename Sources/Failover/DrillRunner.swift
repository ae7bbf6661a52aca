import Foundation
import KafkaClient
import KafkaProtocol
import KafkaRecords
import Logging
import Observability
import Replication
import Replicator
import Topology

#if canImport(Glibc)
    import Glibc
#endif

/// What `strait drill` was asked to do.
public struct DrillOptions: Sendable {
    public var kind: FailoverKind = .unplanned
    /// The standby (default: the target of the topology's first link).
    public var to: String?
    public var rate = 1_000
    public var consumers = 2
    public var partitions: Int32 = 2
    public var topic: String?
    /// Seconds of workload before the disaster, and at the standby after the failover.
    public var warmupSeconds: Double = 5
    public var afterSeconds: Double = 3
    /// External primary: the shell command that takes it down (unplanned).
    public var takeDownCommand: String?
    /// Where embedded sites keep their data (a temporary folder by default, removed afterwards).
    public var dataRoot: String?
    public var keepData = false
    /// Where to write the sequence numbers the primary acknowledged, one per line (for a test's
    /// own count of what was lost).
    public var acksFile: String?
    public var drainTimeoutMs: Int64 = 60_000

    public init() {}
}

/// A failover rehearsal: a workload at the primary, the disaster, the failover, the workload
/// at the standby, and the figures (`DrillResult`). Embedded sites are run by the drill itself,
/// each as a child `strait up FILE --site NAME` on scratch data, so the unplanned kind can
/// `kill -9` the primary.
public final class DrillRunner: Sendable {
    let topology: Topology
    let options: DrillOptions
    let logger: Logger
    let progress: @Sendable (String) -> Void

    public init(
        topology: Topology, options: DrillOptions, logger: Logger,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.topology = topology
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    public func run() async throws -> DrillResult {
        let standbyName = options.to ?? topology.links.first?.target
        guard let standbyName, let link = topology.links.first(where: { $0.target == standbyName }) else {
            throw FailoverError("\(topology.file): no link to fail over along (a drill needs a link into the standby)")
        }
        let primaryName = link.source
        let sites = Dictionary(uniqueKeysWithValues: topology.sites.map { ($0.name, $0) })
        guard let primarySite = sites[primaryName], let standbySite = sites[standbyName] else {
            throw FailoverError("\(topology.file): the link \(primaryName) → \(standbyName) names an unknown site")
        }
        let primaryEmbedded = primarySite.isEmbedded
        if options.kind == .unplanned && !primaryEmbedded && options.takeDownCommand == nil {
            throw FailoverError(
                "site \(primaryName) is an external cluster: an unplanned drill needs --take-down COMMAND, the command that takes it down"
            )
        }
        let policy = link.replicationPolicy
        let topic = try drillTopic(policy)
        guard case let .replicate(standbyTopic) = policy.decision(for: topic) else {
            throw FailoverError("the link \(primaryName) → \(standbyName) does not mirror \(topic)")
        }

        // Sites.
        let scratch = try options.dataRoot ?? makeScratch()
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var children: [String: SiteProcess] = [:]
        defer {
            for child in children.values { child.stop() }
            if options.dataRoot == nil && !options.keepData { try? FileManager.default.removeItem(atPath: scratch) }
        }
        if primaryEmbedded || standbySite.isEmbedded {
            progress("running the embedded sites on scratch data in \(scratch)")
        }
        if primaryEmbedded {
            children[primaryName] = try SiteProcess.start(
                file: topology.file, site: primaryName, dataRoot: scratch, links: false)
        }
        if standbySite.isEmbedded {
            children[standbyName] = try SiteProcess.start(
                file: topology.file, site: standbyName, dataRoot: scratch, links: true)
        } else {
            // The links run beside the standby: here, a replicator of the topology's links.
            children["replicator"] = try SiteProcess.start(
                arguments: ["replicator", topology.file], logName: "replicator", dataRoot: scratch)
        }
        let primary = try cluster(primarySite)
        let standby = try cluster(standbySite)
        defer {
            Task {
                await primary.close()
                await standby.close()
            }
        }
        try await waitUntil("\(primaryName) answers", seconds: 30, children: children) {
            _ = try await primary.refreshMetadata(topics: [])
            return true
        }
        try await waitUntil("\(standbyName) answers", seconds: 30, children: children) {
            _ = try await standby.refreshMetadata(topics: [])
            return true
        }

        // A failover that stands at the standby keeps the link stopped: nothing to rehearse.
        if let standing = try await FailoverStore.standing(from: primaryName, to: standbyName, at: standby) {
            throw FailoverError(
                "failover \(standing.id) from \(primaryName) to \(standbyName) stands at \(standbyName) (\(FailoverStore.topic)), so the link stays stopped and there is nothing to rehearse; fail back first (docs/failover.md)"
            )
        }

        // The drill topic, created at the primary and mirrored by the link.
        let created = try await primary.createTopics([NewTopic(name: topic, partitions: options.partitions)])[topic]
        if let created, !created.isSuccess && !created.alreadyExists {
            throw FailoverError(
                "cannot create \(topic) at \(primaryName): \(created.errorCode) \(created.errorMessage ?? "")")
        }
        progress(
            "drill topic \(topic) at \(primaryName) (\(options.partitions) partitions), mirrored as \(standbyTopic)")
        try await waitUntil(
            "the link creates \(standbyTopic) at \(standbyName)", seconds: 30 + Double(link.refreshIntervalMs) / 1000,
            children: children
        ) {
            let metadata = try await standby.refreshMetadata(topics: [standbyTopic])
            return metadata.topics[standbyTopic].map {
                $0.error == .none && $0.partitions.count == Int(self.options.partitions)
            } ?? false
        }

        // Workload at the primary.
        let recorder = DrillRecorder()
        let group = "strait-drill-\(Int64(Date().timeIntervalSince1970))"
        progress(
            "workload at \(primaryName): \(options.rate) records/s, acks=all; group \(group) with \(options.consumers) consumers; \(options.warmupSeconds) s"
        )
        let primaryWork = Workload(
            cluster: primary, topic: topic, partitions: options.partitions, rate: options.rate,
            consumers: options.consumers, group: group, atStandby: false, recorder: recorder)
        primaryWork.start()
        try await Task.sleep(for: .milliseconds(Int64(options.warmupSeconds * 1000)))

        // The disaster and the failover.
        var failoverOptions = FailoverOptions(to: standbyName, from: primaryName, kind: options.kind)
        failoverOptions.drainTimeoutMs = options.drainTimeoutMs
        failoverOptions.quietPeriodMs = 2_000
        let failover = FailoverRunner(
            topology: topology, options: failoverOptions, logger: logger, progress: { self.progress("failover: \($0)") }
        )
        recorder.disaster(at: FailoverRunner.now())
        let report: FailoverReport
        switch options.kind {
        case .planned:
            // The workload stops at the primary, the group after its last commit; the failover
            // fences the topics all the same (a primary that cannot fence waits for quiet).
            progress("planned failover: the producer and the group stop at \(primaryName)")
            await primaryWork.stopProducer()
            await primaryWork.stopConsumers()
            report = try await failover.run(try await failover.plan())
        case .unplanned:
            if let child = children[primaryName] {
                progress("disaster: kill -9 the process of \(primaryName) (pid \(child.pid))")
                child.kill()
            } else if let command = options.takeDownCommand {
                progress("disaster: \(command)")
                try runShell(command)
            }
            await primaryWork.cancel()
            report = try await failover.run(try await failover.plan())
        }
        progress("failover \(report.record.id) done; the workload moves to \(standbyName)")

        // Workload at the standby, then the group reads to the end.
        recorder.moveToStandby()
        let standbyWork = Workload(
            cluster: standby, topic: standbyTopic, partitions: options.partitions, rate: options.rate,
            consumers: options.consumers, group: group, atStandby: true, recorder: recorder)
        standbyWork.start()
        try await Task.sleep(for: .milliseconds(Int64(options.afterSeconds * 1000)))
        await standbyWork.stopProducer()
        let partitions = Set((0..<options.partitions).map { TopicPartition(standbyTopic, $0) })
        let ends = try await standby.listOffsets(partitions, spec: .latest).compactMapValues { try? $0.get().offset }
        try await waitUntil("the group reads \(standbyTopic) to its end", seconds: 20, children: [:]) {
            let committed = try await standby.fetchCommittedOffsets(group: group)
            return ends.allSatisfy { (committed[$0.key]?.offset ?? -1) >= $0.value }
        }
        await standbyWork.stopConsumers()
        recorder.present(atStandby: try await allSequenceNumbers(standby, partitions))
        let seen = recorder.observations
        if let acksFile = options.acksFile {
            let lines = seen.ackedAtPrimary.keys.sorted().map(String.init).joined(separator: "\n")
            try Data((lines + "\n").utf8).write(to: URL(fileURLWithPath: acksFile))
        }
        return DrillResult(seen, kind: options.kind, failover: report)
    }

    /// `--topic`, else a name the link mirrors: a literal include, or `strait-drill` under the
    /// first include pattern's literal prefix.
    func drillTopic(_ policy: ReplicationPolicy) throws -> String {
        if let topic = options.topic { return topic }
        let link = topology.links.first { $0.target == (options.to ?? topology.links.first?.target) }
        var candidates = ["strait-drill"]
        for pattern in link?.topics.include ?? [] {
            let literal = pattern.prefix { !"^$.*+?()[]{}|\\".contains($0) }
            if literal.count == pattern.count { candidates.insert(pattern, at: 0) }
            candidates += ["\(literal).strait-drill", "\(literal)-strait-drill", "\(literal)strait-drill"]
        }
        guard let topic = candidates.first(where: { policy.shouldReplicate($0) }) else {
            throw FailoverError(
                "the link mirrors none of \(candidates.joined(separator: ", ")): name the drill topic with --topic")
        }
        return topic
    }

    func cluster(_ site: Site) throws -> KafkaCluster {
        var configuration = try topology.clientConfiguration(for: site)
        configuration.clientId = "strait-drill"
        configuration.connectTimeout = .seconds(2)
        configuration.requestTimeout = .seconds(10)
        return try KafkaCluster(
            bootstrap: site.bootstrapServers.joined(separator: ","), configuration: configuration, logger: logger)
    }

    func makeScratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "strait-drill-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Polls `check` every 200 ms for at most `seconds`; a child site that exits meanwhile ends it
    /// with the tail of that child's log.
    func waitUntil(
        _ what: String, seconds: Double, children: [String: SiteProcess], _ check: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        var lastError = "not yet"
        while ContinuousClock.now < deadline {
            for (name, child) in children where !child.isRunning {
                throw FailoverError(
                    "site \(name) exited (status \(child.exitStatus)) while waiting until \(what); its log (\(child.logPath)) ends:\n\(child.logTail())"
                )
            }
            do {
                if try await check() { return }
            } catch {
                lastError = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw FailoverError("timed out after \(seconds) s waiting until \(what) (\(lastError))")
    }

    func runShell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FailoverError("--take-down command exited with status \(process.terminationStatus): \(command)")
        }
    }

    /// The sequence numbers the partitions hold, read from their log start to their end.
    func allSequenceNumbers(_ cluster: KafkaCluster, _ partitions: Set<TopicPartition>) async throws -> Set<Int64> {
        var numbers: Set<Int64> = []
        let ends = try await cluster.listOffsets(partitions, spec: .latest)
        let starts = try await cluster.listOffsets(partitions, spec: .earliest)
        for partition in partitions {
            let end = try ends[partition]?.get().offset ?? 0
            var next = try starts[partition]?.get().offset ?? 0
            while next < end {
                let fetched = try await cluster.fetch(
                    [partition: FetchPosition(offset: next, maxBytes: 4 << 20)], options: FetchOptions(maxWaitMs: 100))
                guard let result = fetched[partition], result.errorCode == .none, let after = result.nextOffset else {
                    throw FailoverError(
                        "cannot read \(partition) at \(next): \(fetched[partition]?.errorCode.description ?? "no answer")"
                    )
                }
                for batch in result.batches where !batch.header.isControl {
                    for record in try RecordBatchDecoder.records(in: batch) where record.offset >= next {
                        if let number = DrillRecord.sequence(of: record.value) { numbers.insert(number) }
                    }
                }
                next = after
            }
        }
        return numbers
    }
}

/// The producer and the consumers of one site.
final class Workload: @unchecked Sendable {
    let producer: DrillProducer
    let consumers: [DrillConsumer]
    let producerStop = StopSignal()
    let consumerStop = StopSignal()
    private var producerTask: Task<String?, Never>?
    private var consumerTasks: [Task<Void, Never>] = []

    init(
        cluster: KafkaCluster, topic: String, partitions: Int32, rate: Int, consumers: Int, group: String,
        atStandby: Bool, recorder: DrillRecorder
    ) {
        producer = DrillProducer(
            cluster: cluster, topic: topic, partitions: partitions, rate: rate, atStandby: atStandby,
            recorder: recorder, stop: producerStop)
        let members = max(1, consumers)
        let stop = consumerStop
        self.consumers = (0..<members).compactMap { index in
            let mine = (0..<partitions).filter { Int($0) % members == index }
            guard !mine.isEmpty else { return nil }
            return DrillConsumer(
                cluster: cluster, topic: topic, partitions: mine, group: group, recorder: recorder, stop: stop)
        }
    }

    func start() {
        let producer = self.producer
        producerTask = Task { await producer.run() }
        consumerTasks = consumers.map { consumer in Task { await consumer.run() } }
    }

    func stopProducer() async {
        producerStop.set()
        _ = await producerTask?.value
    }

    func stopConsumers() async {
        consumerStop.set()
        for task in consumerTasks { await task.value }
    }

    /// The disaster: everything stops where it is.
    func cancel() async {
        producerTask?.cancel()
        for task in consumerTasks { task.cancel() }
        _ = await producerTask?.value
        for task in consumerTasks { await task.value }
    }
}

/// An embedded site run as a child `strait up FILE --site NAME --data-root DIR` (or the
/// replicator, `strait replicator FILE`, beside an external standby), its output in DIR/NAME.log.
final class SiteProcess: @unchecked Sendable {
    let process: Process
    let logPath: String

    init(process: Process, logPath: String) {
        self.process = process
        self.logPath = logPath
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var exitStatus: Int32 { process.isRunning ? 0 : process.terminationStatus }

    static func start(file: String, site: String, dataRoot: String, links: Bool) throws -> SiteProcess {
        try start(
            arguments: ["up", file, "--site", site, "--data-root", dataRoot] + (links ? [] : ["--no-links"]),
            logName: site, dataRoot: dataRoot)
    }

    /// `strait ARGUMENTS`, its output in DIR/LOGNAME.log.
    static func start(arguments: [String], logName: String, dataRoot: String) throws -> SiteProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        let logPath = URL(fileURLWithPath: dataRoot).appendingPathComponent("\(logName).log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return SiteProcess(process: process, logPath: logPath)
    }

    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM (a graceful shutdown), then SIGKILL after 10 s.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        kill()
    }

    func logTail(lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

extension Site {
    var isEmbedded: Bool {
        if case .embedded = kind { return true }
        return false
    }
}
