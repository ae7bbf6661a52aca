import ArgumentParser
import Foundation
import KafkaClient
import Logging

/// `strait groups list|describe`: consumer groups of any Kafka-protocol cluster, like
/// kafka-consumer-groups.sh --list / --describe.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups", abstract: "List or describe consumer groups of a Kafka-protocol cluster.",
        subcommands: [List.self, Describe.self])

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    struct ClusterOptions: ParsableArguments {
        @Option(
            name: .customLong("bootstrap-server"),
            help: "Comma-separated HOST:PORT list of brokers to bootstrap from (default: localhost:9092).")
        var bootstrapServer: String?
        @OptionGroup(title: "Security") var security: ClientSecurityOptions
        @Option(help: "Give up after this many seconds.") var timeout: Double = 30
        @Option(help: "Output format: text or json.") var output: OutputFormat = .text
        @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
        var logLevel: String = "warning"

        func validate() throws {
            guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError("unknown --log-level '\(logLevel)'")
            }
            if let bootstrapServer {
                do { _ = try BrokerAddress.parseList(bootstrapServer) } catch {
                    throw ValidationError("--bootstrap-server: \(error)")
                }
                if security.topology != nil {
                    throw ValidationError(
                        "--topology takes the bootstrap servers from the site: drop --bootstrap-server")
                }
            }
        }

        /// Runs `body` with a client, then closes it. Client errors and the overall timeout become
        /// one line on stderr and exit status 1.
        func withCluster<T: Sendable>(_ body: @escaping @Sendable (KafkaCluster) async throws -> T) async throws -> T {
            let level = Logger.Level(rawValue: logLevel) ?? .warning
            bootstrapLogging(level: level)
            let (bootstrap, secured) = try security.clientConfiguration(bootstrapServer: bootstrapServer)
            var configuration = secured
            configuration.clientId = "strait-groups"
            let limit = Duration.milliseconds(Int64(timeout * 1000))
            configuration.connectTimeout = min(limit, .seconds(10))
            configuration.requestTimeout = limit
            let cluster = try KafkaCluster(
                bootstrap: bootstrap, configuration: configuration,
                logger: Logger(label: "strait.groups"))
            do {
                let result = try await withThrowingTaskGroup(of: T?.self) { tasks in
                    tasks.addTask { try await body(cluster) }
                    tasks.addTask {
                        try await Task.sleep(for: limit)
                        return nil
                    }
                    defer { tasks.cancelAll() }
                    guard let first = try await tasks.next(), let value = first else {
                        throw CLIError("timed out after \(formatSeconds(limit)) talking to \(bootstrap)")
                    }
                    return value
                }
                await cluster.close()
                return result
            } catch let error as KafkaClientError {
                await cluster.close()
                throw CLIError(Self.explain(error, bootstrap: bootstrap))
            } catch {
                await cluster.close()
                throw error
            }
        }

        static func explain(_ error: KafkaClientError, bootstrap: String) -> String {
            switch error {
            case let .noBrokerAvailable(reasons):
                return "cannot connect to any broker (bootstrap \(bootstrap)): \(reasons.joined(separator: "; "))"
            default:
                return error.description
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the groups of every broker: group id, state, protocol type.")
        @OptionGroup var options: ClusterOptions

        func run() async throws {
            let format = options.output
            let groups = try await options.withCluster { cluster in
                var groups = try await cluster.listGroups()
                // Brokers before ListGroups v4 do not say the state: ask DescribeGroups.
                let unknown = groups.filter { $0.state == nil }.map(\.groupId)
                if !unknown.isEmpty {
                    let described = try await cluster.describeGroups(unknown)
                    for index in groups.indices where groups[index].state == nil {
                        groups[index].state = try? described[groups[index].groupId]?.get().state
                    }
                }
                return groups
            }
            switch format {
            case .json:
                printJSON([
                    "groups": groups.map { group -> [String: Any] in
                        [
                            "group": group.groupId, "state": group.state ?? NSNull(),
                            "protocol_type": group.protocolType,
                            "coordinator": Int(group.coordinator)
                        ]
                    }
                ])
            case .text:
                printTable(
                    header: ["GROUP", "STATE", "PROTOCOL-TYPE"],
                    rows: groups.map {
                        [$0.groupId, $0.state ?? "-", $0.protocolType.isEmpty ? "-" : $0.protocolType]
                    })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Describe a group: state, members, and per partition the committed offset, log end offset and lag.")
        @Argument(help: "The group id.") var group: String
        @OptionGroup var options: ClusterOptions

        func run() async throws {
            let format = options.output
            let groupId = group
            let (description, report) = try await options.withCluster { cluster in
                do {
                    return try await cluster.groupOffsetsReport(groupId)
                } catch let error as KafkaClientError where error.errorCode == .groupIdNotFound {
                    throw CLIError("group '\(groupId)' does not exist")
                }
            }
            if description.isDead && report.rows.isEmpty {
                throw CLIError("group '\(groupId)' does not exist")
            }
            switch format {
            case .json: printJSON(json(description, report))
            case .text: printText(description, report)
            }
        }

        private func printText(_ description: GroupDescription, _ report: GroupOffsetsReport) {
            let protocolType = description.protocolType.isEmpty ? "-" : description.protocolType
            let protocolName = description.protocolName.isEmpty ? "-" : description.protocolName
            print(
                "GROUP \(description.groupId): state \(description.state), protocol type \(protocolType), "
                    + "protocol \(protocolName), coordinator \(description.coordinator), "
                    + "\(description.members.count) member\(description.members.count == 1 ? "" : "s")")
            print("")
            var rows = report.rows.map { row -> [String] in
                [
                    row.partition.topic, "\(row.partition.partition)", row.committedOffset.map(String.init) ?? "-",
                    row.logEndOffset.map(String.init) ?? "-", row.lag.map(String.init) ?? "-",
                    row.memberId ?? "-", row.clientHost ?? "-", row.clientId ?? "-"
                ]
            }
            rows += report.membersWithoutPartitions.map {
                ["-", "-", "-", "-", "-", $0.memberId, $0.clientHost, $0.clientId]
            }
            printTable(
                header: [
                    "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"
                ],
                rows: rows)
            for row in report.rows where row.logEndError != nil {
                FileHandle.standardError.write(
                    Data("warning: no log end offset for \(row.partition): \(row.logEndError!)\n".utf8))
            }
        }

        private func json(_ description: GroupDescription, _ report: GroupOffsetsReport) -> [String: Any] {
            func orNull<T>(_ value: T?) -> Any { value.map { $0 as Any } ?? NSNull() }
            return [
                "group": description.groupId,
                "state": description.state,
                "protocol_type": description.protocolType,
                "protocol": description.protocolName,
                "coordinator": [
                    "id": Int(description.coordinator.nodeId), "host": description.coordinator.host,
                    "port": Int(description.coordinator.port)
                ],
                "members": description.members.map { member -> [String: Any] in
                    [
                        "member_id": member.memberId, "group_instance_id": orNull(member.groupInstanceId),
                        "client_id": member.clientId, "host": member.clientHost,
                        "assignment": orNull(
                            member.assignment?.map { ["topic": $0.topic, "partition": Int($0.partition)] })
                    ]
                },
                "partitions": report.rows.map { row -> [String: Any] in
                    [
                        "topic": row.partition.topic, "partition": Int(row.partition.partition),
                        "current_offset": orNull(row.committedOffset), "log_end_offset": orNull(row.logEndOffset),
                        "lag": orNull(row.lag), "consumer_id": orNull(row.memberId), "host": orNull(row.clientHost),
                        "client_id": orNull(row.clientId)
                    ]
                },
                "total_lag": report.totalLag
            ]
        }
    }
}

func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}

func printJSON(_ object: Any) {
    let data =
        (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

func formatSeconds(_ duration: Duration) -> String {
    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.1fs", seconds)
}
