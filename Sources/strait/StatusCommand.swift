import ArgumentParser
import Dispatch
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Observability
import Replicator
import Topology

/// `strait status FILE`: asks the process running the topology's links (its `status:` address)
/// for every link's numbers, prints lag per link and partition, and exits with what they mean
/// (`LinkHealth.ExitStatus`). `--watch` asks again every interval until Ctrl-C or SIGTERM.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show replication lag per link and partition of a running topology.",
        discussion: """
            Exit status: 0 every link up and within the bounds; 1 nothing answers at the status address; \
            2 a link is down (not running, not started, no checkpoint pass for 3 checkpoint intervals + 5 s) \
            or, with --watch, its errors rose since the previous snapshot; 3 a partition lags more than \
            --max-lag-records or --max-lag-seconds. With --watch, the status of the last snapshot. \
            See docs/observability.md.
            """)

    @Argument(help: "Topology file.") var file: String
    @Option(help: "Output format: text, or json (the /status JSON; one line per snapshot with --watch).")
    var output: GroupsCommand.OutputFormat = .text
    @Option(name: .customLong("max-lag-records"), help: "Exit 3 when a partition lags more records than this.")
    var maxLagRecords: Int64?
    @Option(
        name: .customLong("max-lag-seconds"),
        help: "Exit 3 when a partition's oldest unmirrored record is older than this.")
    var maxLagSeconds: Double?
    @Flag(help: "Redraw every --interval seconds until Ctrl-C or SIGTERM.") var watch = false
    @Option(help: "Seconds between snapshots with --watch.") var interval: Double = 2
    @Option(help: "With --watch: stop after this many snapshots.") var count: Int?
    @Option(help: "Give up on one request to the status address after this many seconds.") var timeout: Double = 10

    func validate() throws {
        if let maxLagRecords, maxLagRecords < 0 { throw ValidationError("--max-lag-records must be 0 or more") }
        if let maxLagSeconds, maxLagSeconds < 0 { throw ValidationError("--max-lag-seconds must be 0 or more") }
        guard interval > 0 else { throw ValidationError("--interval must be positive") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if let count {
            guard watch else { throw ValidationError("--count needs --watch") }
            guard count > 0 else { throw ValidationError("--count must be positive") }
        }
    }

    func run() async throws {
        let topology = try loadOrReport(file)
        let address = topology.statusAddress
        guard let url = URL(string: "http://\(address.host):\(address.port)/status") else {
            throw CLIError("bad status address \(address.host):\(address.port)")
        }
        let probe = StatusProbe(
            url: url, file: file, timeout: timeout,
            expected: topology.links.map {
                LinkHealth.ExpectedLink(
                    source: $0.source, target: $0.target, checkpointIntervalMs: $0.checkpointIntervalMs)
            },
            bounds: LinkHealth.Bounds(
                maxLagRecords: maxLagRecords, maxLagMs: maxLagSeconds.map { Int64(($0 * 1000).rounded()) }))
        let status: LinkHealth.ExitStatus
        if watch {
            status = await watchUntilStopped(probe)
        } else {
            let snapshot = try await probe.take(previous: nil)
            write(snapshot.output(output))
            status = snapshot.exitStatus
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }

    /// Frames until `--count` or a signal; returns the last frame's status.
    private func watchUntilStopped(_ probe: StatusProbe) async -> LinkHealth.ExitStatus {
        let screen = StatusText.WatchScreen(isTerminal: isatty(STDOUT_FILENO) == 1)
        // Ctrl-C and SIGTERM end the loop (between frames or in a request); the last frame stays
        // on the screen and its status is the exit status. Ignored here, they reach the sources below.
        let stopSignals = [SIGINT, SIGTERM]
        for number in stopSignals { signal(number, SIG_IGN) }
        let loop = Task { () -> LinkHealth.ExitStatus in
            var last: LinkHealth.ExitStatus = .unreachable
            var previous: [LinkStatus.Snapshot]?
            var index = 0
            while !Task.isCancelled {
                let header = StatusText.watchHeader(file: file, intervalSeconds: interval, at: Date())
                do {
                    let snapshot = try await probe.take(previous: previous)
                    previous = snapshot.links
                    last = snapshot.exitStatus
                    write(
                        output == .json
                            ? snapshot.output(.json) : screen.frame(snapshot.report, header: header, index: index))
                } catch {
                    if Task.isCancelled { break }  // the request was cut short by the signal
                    previous = nil
                    last = .unreachable
                    let message = "error: \(runtimeErrorMessage(error))"
                    if output == .json {
                        FileHandle.standardError.write(Data((message + "\n").utf8))
                    } else {
                        write(screen.frame(message, header: header, index: index))
                    }
                }
                index += 1
                if let count, index >= count { break }
                do { try await Task.sleep(for: .milliseconds(Int64(interval * 1000))) } catch { break }
            }
            return last
        }
        let signals = stopSignals.map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { loop.cancel() }
            source.resume()
            return source
        }
        let status = await loop.value
        signals.forEach { $0.cancel() }
        return status
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// One request to the status address and what it means.
struct StatusProbe: Sendable {
    let url: URL
    let file: String
    let timeout: Double
    let expected: [LinkHealth.ExpectedLink]
    let bounds: LinkHealth.Bounds

    struct Snapshot {
        /// The /status answer as it came (one line of JSON).
        var json: Data
        var links: [LinkStatus.Snapshot]
        var verdicts: [LinkHealth.Verdict]
        var now: Int64

        var exitStatus: LinkHealth.ExitStatus { LinkHealth.exitStatus(verdicts) }
        var report: String { StatusText.render(links, verdicts: verdicts, now: now) }

        func output(_ format: GroupsCommand.OutputFormat) -> String {
            switch format {
            case .json: String(decoding: json, as: UTF8.self).trimmingCharacters(in: .newlines) + "\n"
            case .text: report + "\n"
            }
        }
    }

    /// Fetches /status and judges it (`previous`: the last frame's links, for rising errors).
    func take(previous: [LinkStatus.Snapshot]?) async throws -> Snapshot {
        let data: Data
        let links: [LinkStatus.Snapshot]
        do {
            (data, links) = try await StatusClient.fetch(url, timeout: timeout)
        } catch StatusClient.Failure.unreachable(_, let reason) {
            throw CLIError(
                "no replicator answers at \(url) (is `strait replicator \(file)` or `strait up \(file)` "
                    + "running?): \(reason)")
        } catch {
            throw CLIError("\(error)")
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return Snapshot(
            json: data, links: links,
            verdicts: LinkHealth.assess(links, previous: previous, expected: expected, bounds: bounds, now: now),
            now: now)
    }
}
