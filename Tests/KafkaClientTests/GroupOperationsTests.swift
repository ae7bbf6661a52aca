import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore
import XCTest
@testable import KafkaClient

/// Group operations against fake brokers that return canned ListGroups / DescribeGroups /
/// OffsetFetch / FindCoordinator / Metadata / ListOffsets responses.
final class GroupOperationsTests: XCTestCase {

    private func cluster(_ servers: FakeKafkaServer...) throws -> KafkaCluster {
        var configuration = KafkaClientConfiguration()
        configuration.retry = RetryPolicy(maxAttempts: 4, initialBackoff: .zero, maxBackoff: .zero)
        return try KafkaCluster(bootstrapServers: servers.map(\.address), configuration: configuration, sleep: { _ in })
    }

    private func assignment(_ partitions: [String: [Int32]]) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        try! ConsumerProtocolAssignment(
            assignedPartitions: partitions.sorted { $0.key < $1.key }.map { .init(topic: $0.key, partitions: $0.value) }
        )
        .encode(into: &buffer, version: 0)
        return Array(buffer.readableBytesView)
    }

    /// One broker (node 0) that is the coordinator and the leader of t-0 and t-1.
    private func singleBroker(
        advertised: [APIKey: ClosedRange<Int16>] = FakeKafkaServer.defaultAdvertised,
        describeErrors: NIOLockedValueBox<[KafkaErrorCode]> = NIOLockedValueBox([])
    ) -> (FakeKafkaServer, NIOLockedValueBox<Int>) {
        let port = NIOLockedValueBox(0)
        let member = assignment(["t": [0, 1]])
        let server = FakeKafkaServer(advertised: advertised) { header, body in
            let me = Int32(port.withLockedValue { $0 })
            switch APIKey(rawValue: header.apiKey)! {
            case .metadata:
                return .respond(
                    MetadataResponse(
                        brokers: [.init(nodeId: 0, host: "127.0.0.1", port: me)], clusterId: "c", controllerId: 0,
                        topics: [
                            .init(
                                name: "t",
                                partitions: [
                                    .init(partitionIndex: 0, leaderId: 0), .init(partitionIndex: 1, leaderId: 0)
                                ])
                        ]))
            case .findCoordinator:
                let request = decodeRequest(FindCoordinatorRequest.self, header, body)
                return .respond(
                    FindCoordinatorResponse(
                        nodeId: 0, host: "127.0.0.1", port: me,
                        coordinators: request.coordinatorKeys.map {
                            .init(key: $0, nodeId: 0, host: "127.0.0.1", port: me)
                        }))
            case .describeGroups:
                let error = describeErrors.withLockedValue { $0.isEmpty ? 0 : $0.removeFirst() }
                return .respond(
                    DescribeGroupsResponse(groups: [
                        .init(
                            errorCode: error, groupId: "g", groupState: "Stable", protocolType: "consumer",
                            protocolData: "range",
                            members: [
                                .init(
                                    memberId: "m-1", clientId: "c-1", clientHost: "/127.0.0.1", memberAssignment: member
                                )
                            ])
                    ]))
            case .offsetFetch:
                let request = decodeRequest(OffsetFetchRequest.self, header, body)
                XCTAssertTrue(
                    header.apiVersion >= 8 ? request.groups.first?.topics == nil : request.topics == nil,
                    "all partitions")
                let partitions = [(Int32(0), Int64(5)), (1, -1)]
                if header.apiVersion >= 8 {
                    return .respond(
                        OffsetFetchResponse(groups: [
                            .init(
                                groupId: "g",
                                topics: [
                                    .init(
                                        name: "t",
                                        partitions: partitions.map {
                                            .init(partitionIndex: $0.0, committedOffset: $0.1)
                                        })
                                ])
                        ]))
                }
                return .respond(
                    OffsetFetchResponse(topics: [
                        .init(
                            name: "t",
                            partitions: partitions.map {
                                .init(partitionIndex: $0.0, committedOffset: $0.1)
                            })
                    ]))
            case .listOffsets:
                let request = decodeRequest(ListOffsetsRequest.self, header, body)
                XCTAssertEqual(request.replicaId, -1, "a consumer, not a follower")
                return .respond(
                    ListOffsetsResponse(
                        topics: request.topics.map { topic in
                            .init(
                                name: topic.name,
                                partitions: topic.partitions.map {
                                    XCTAssertEqual($0.timestamp, -1, "latest")
                                    return .init(
                                        partitionIndex: $0.partitionIndex, offset: 10 + Int64($0.partitionIndex))
                                })
                        }))
            default:
                return nil
            }
        }
        return (server, port)
    }

    func testGroupOffsetsReportEndToEnd() async throws {
        let (server, port) = singleBroker()
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try cluster(server)
        let (description, report) = try await cluster.groupOffsetsReport("g")
        await cluster.close()

        XCTAssertEqual(description.state, "Stable")
        XCTAssertEqual(description.protocolName, "range")
        XCTAssertEqual(description.members.first?.assignment, [TopicPartition("t", 0), TopicPartition("t", 1)])
        XCTAssertEqual(report.rows.map(\.partition), [TopicPartition("t", 0), TopicPartition("t", 1)])
        XCTAssertEqual(report.rows.map(\.committedOffset), [5, nil])
        XCTAssertEqual(report.rows.map(\.logEndOffset), [10, 11])
        XCTAssertEqual(report.rows.map(\.lag), [5, nil])
        XCTAssertEqual(report.rows.map(\.memberId), ["m-1", "m-1"])
        // Highest common versions: batched FindCoordinator (v4+) and the batched OffsetFetch form (v8+).
        XCTAssertEqual(server.requests(for: .findCoordinator).map(\.apiVersion), [6])
        XCTAssertEqual(server.requests(for: .offsetFetch).map(\.apiVersion), [9])
        XCTAssertEqual(server.requests(for: .listOffsets).map(\.apiVersion), [9])
    }

    func testOlderBrokersGetTheSingleKeyForms() async throws {
        var advertised = FakeKafkaServer.defaultAdvertised
        advertised[.findCoordinator] = 0...3
        advertised[.offsetFetch] = 1...7
        advertised[.describeGroups] = 0...4
        advertised[.listOffsets] = 1...5
        advertised[.metadata] = 0...8
        let (server, port) = singleBroker(advertised: advertised)
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try cluster(server)
        let (_, report) = try await cluster.groupOffsetsReport("g")
        await cluster.close()
        XCTAssertEqual(report.rows.map(\.lag), [5, nil])
        XCTAssertEqual(server.requests(for: .findCoordinator).map(\.apiVersion), [3])
        XCTAssertEqual(server.requests(for: .offsetFetch).map(\.apiVersion), [7])
        XCTAssertEqual(server.requests(for: .listOffsets).map(\.apiVersion), [5])
    }

    func testNotCoordinatorAndLoadingAreRetriedWithANewLookup() async throws {
        let errors = NIOLockedValueBox<[KafkaErrorCode]>([.notCoordinator, .coordinatorLoadInProgress])
        let (server, port) = singleBroker(describeErrors: errors)
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try cluster(server)
        let description = try await cluster.describeGroup("g")
        await cluster.close()
        XCTAssertEqual(description.state, "Stable")
        XCTAssertEqual(server.requests(for: .describeGroups).count, 3)
        // NOT_COORDINATOR drops the cached coordinator; COORDINATOR_LOAD_IN_PROGRESS keeps it.
        XCTAssertEqual(server.requests(for: .findCoordinator).count, 2)
    }

    func testNonRetriableGroupErrorsSurface() async throws {
        let errors = NIOLockedValueBox<[KafkaErrorCode]>([.groupAuthorizationFailed])
        let (server, port) = singleBroker(describeErrors: errors)
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try cluster(server)
        do {
            _ = try await cluster.describeGroup("g")
            XCTFail("no error")
        } catch let error as KafkaClientError {
            XCTAssertEqual(error.errorCode, .groupAuthorizationFailed)
            XCTAssertTrue(error.description.contains("GROUP_AUTHORIZATION_FAILED"), error.description)
        }
        await cluster.close()
        XCTAssertEqual(server.requests(for: .describeGroups).count, 1)
    }

    func testListGroupsAsksEveryBroker() async throws {
        let ports = NIOLockedValueBox<[Int]>([0, 0])
        let loading = NIOLockedValueBox(true)
        func broker(_ id: Int32) -> FakeKafkaServer {
            FakeKafkaServer { header, _ in
                let known = ports.withLockedValue { $0 }
                switch APIKey(rawValue: header.apiKey)! {
                case .metadata:
                    return .respond(
                        MetadataResponse(brokers: [
                            .init(nodeId: 0, host: "127.0.0.1", port: Int32(known[0])),
                            .init(nodeId: 1, host: "127.0.0.1", port: Int32(known[1]))
                        ]))
                case .listGroups:
                    // Broker 1 is still loading its groups the first time it is asked.
                    if id == 1,
                        loading.withLockedValue({
                            let was = $0; $0 = false; return was
                        })
                    {
                        return .respond(ListGroupsResponse(errorCode: .coordinatorLoadInProgress))
                    }
                    return .respond(
                        ListGroupsResponse(groups: [
                            .init(
                                groupId: "group-on-\(id)", protocolType: "consumer",
                                groupState: "Empty")
                        ]))
                default:
                    return nil
                }
            }
        }
        let b0 = try await broker(0).start(), b1 = try await broker(1).start()
        ports.withLockedValue { $0 = [b0.port, b1.port] }
        defer {
            Task {
                await b0.stop(); await b1.stop()
            }
        }
        let cluster = try cluster(b0)
        let groups = try await cluster.listGroups()
        await cluster.close()
        XCTAssertEqual(groups.map(\.groupId), ["group-on-0", "group-on-1"])
        XCTAssertEqual(groups.map(\.coordinator), [0, 1])
        XCTAssertEqual(groups.map(\.state), ["Empty", "Empty"])
        XCTAssertEqual(b1.requests(for: .listGroups).count, 2)
    }

    func testBootstrapFallsThroughToTheNextServer() async throws {
        let dead = try await FakeKafkaServer().start()
        let deadAddress = dead.address
        await dead.stop()
        let (server, port) = singleBroker()
        _ = try await server.start()
        port.withLockedValue { $0 = server.port }
        defer { Task { await server.stop() } }
        let cluster = try KafkaCluster(bootstrapServers: [deadAddress, server.address], sleep: { _ in })
        let metadata = try await cluster.refreshMetadata(topics: nil)
        await cluster.close()
        XCTAssertEqual(metadata.brokers[0]?.address, server.address)
        XCTAssertEqual(metadata.topics["t"]?.partitions.map(\.leader), [0, 0])
    }

    func testNoReachableBrokerNamesEveryAddress() async throws {
        let dead = try await FakeKafkaServer().start()
        let deadAddress = dead.address
        await dead.stop()
        var configuration = KafkaClientConfiguration()
        configuration.retry = RetryPolicy(maxAttempts: 2, initialBackoff: .zero)
        let cluster = try KafkaCluster(bootstrapServers: [deadAddress], configuration: configuration, sleep: { _ in })
        do {
            _ = try await cluster.listGroups()
            XCTFail("no error")
        } catch let error as KafkaClientError {
            guard case let .noBrokerAvailable(reasons) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(reasons.count, 1)
            XCTAssertTrue(reasons[0].hasPrefix("\(deadAddress): "), reasons[0])
        }
        await cluster.close()
    }
}

func decodeRequest<R: KafkaRequestMessage>(_ type: R.Type, _ header: RequestHeader, _ body: ByteBuffer) -> R {
    var body = body
    return try! R(from: &body, version: header.apiVersion)
}
