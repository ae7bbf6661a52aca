import GroupCoordination
import KafkaProtocol
import NIOCore

/// The API versions this broker advertises. Only keys that are implemented are listed: clients
/// take an unlisted key as "unsupported" and use their fallbacks.
public enum SupportedAPIs {
    public static let versions: [(APIKey, ClosedRange<Int16>)] = [
        // Produce v0-2 are advertised (old librdkafka enables compression only when the range
        // contains v0) but answered with UNSUPPORTED_VERSION, as Kafka 4.0 does.
        (.produce, 0...11),
        (.fetch, 4...12),
        (.listOffsets, 1...9),
        (.metadata, 0...12),
        // Needed by librdkafka < 2.11.1 to enable LZ4; the broker is its own coordinator.
        (.findCoordinator, 0...6),
        (.apiVersions, 0...4),
        (.createTopics, 0...7),
        (.deleteTopics, 0...6),
        (.deleteRecords, 0...2),
        (.initProducerId, 0...5),
        (.describeConfigs, 0...4),
        (.alterConfigs, 0...2),
        (.createPartitions, 0...3),
        (.incrementalAlterConfigs, 0...1),
        (.describeCluster, 0...1),
        // Strait-only (key 20000): the replicator's offset-preserving append into mirror topics.
        (.straitMirrorAppend, 0...0),
    ] + GroupCoordinator.supportedVersions

    static let byKey: [Int16: ClosedRange<Int16>] = Dictionary(uniqueKeysWithValues: versions.map { ($0.0.rawValue, $0.1) })
}

extension Broker {
    /// Handles one request frame (without its 4-byte length prefix).
    public func handle(frame: ByteBuffer, connection: ConnectionContext) async -> RequestOutcome {
        var body = frame
        let header: RequestHeader
        do {
            header = try RequestHeader.decode(from: &body)
        } catch {
            return .closeConnection(reason: "malformed request header: \(error)")
        }
        guard let key = APIKey(rawValue: header.apiKey), let range = SupportedAPIs.byKey[header.apiKey],
              key != .straitMirrorAppend || config.mirrorAPI else {
            return .closeConnection(reason: "unsupported API key \(header.apiKey) (correlation id \(header.correlationId))")
        }
        guard range.contains(header.apiVersion) else {
            if key == .apiVersions { return .respond(apiVersionsFallback(correlationId: header.correlationId)) }
            return .closeConnection(reason: "unsupported version \(header.apiVersion) of \(key) (supported \(range.lowerBound)-\(range.upperBound))")
        }
        do {
            switch key {
            case .apiVersions: return try run(ApiVersionsRequest.self, header, &body) { r, _ in self.apiVersions(r) }
            case .metadata: return try run(MetadataRequest.self, header, &body) { r, v in self.metadata(r, version: v, connection: connection) }
            case .produce:
                let request = try ProduceRequest(from: &body, version: header.apiVersion)
                let response = produce(request, version: header.apiVersion)
                if request.acks == 0 { return .noResponse }
                return .respond(try encode(response, header: header, key: .produce))
            case .fetch:
                let request = try FetchRequest(from: &body, version: header.apiVersion)
                let response = await fetch(request, version: header.apiVersion)
                return .respond(try encode(response, header: header, key: .fetch))
            case .listOffsets: return try run(ListOffsetsRequest.self, header, &body) { r, v in self.listOffsets(r, version: v) }
            case .findCoordinator: return try run(FindCoordinatorRequest.self, header, &body) { r, v in self.findCoordinator(r, version: v, connection: connection) }
            case .createTopics: return try run(CreateTopicsRequest.self, header, &body) { r, v in self.createTopics(r, version: v) }
            case .deleteTopics: return try run(DeleteTopicsRequest.self, header, &body) { r, v in self.deleteTopics(r, version: v) }
            case .deleteRecords: return try run(DeleteRecordsRequest.self, header, &body) { r, _ in self.deleteRecords(r) }
            case .initProducerId: return try run(InitProducerIdRequest.self, header, &body) { r, _ in self.initProducerId(r) }
            case .describeConfigs: return try run(DescribeConfigsRequest.self, header, &body) { r, v in self.describeConfigs(r, version: v) }
            case .alterConfigs: return try run(AlterConfigsRequest.self, header, &body) { r, _ in self.alterConfigs(r) }
            case .incrementalAlterConfigs: return try run(IncrementalAlterConfigsRequest.self, header, &body) { r, _ in self.incrementalAlterConfigs(r) }
            case .createPartitions: return try run(CreatePartitionsRequest.self, header, &body) { r, _ in self.createPartitions(r) }
            case .describeCluster: return try run(DescribeClusterRequest.self, header, &body) { r, v in self.describeCluster(r, version: v, connection: connection) }
            case .straitMirrorAppend: return try run(StraitMirrorAppendRequest.self, header, &body) { r, _ in self.mirrorAppend(r) }
            case .joinGroup:
                let request = try JoinGroupRequest(from: &body, version: header.apiVersion)
                let response = await groups.handle(request, version: header.apiVersion, client: clientInfo(header, connection))
                return .respond(try encode(response, header: header, key: .joinGroup))
            case .syncGroup:
                let request = try SyncGroupRequest(from: &body, version: header.apiVersion)
                let response = await groups.handle(request, version: header.apiVersion)
                return .respond(try encode(response, header: header, key: .syncGroup))
            case .heartbeat: return try run(HeartbeatRequest.self, header, &body) { r, v in self.groups.handle(r, version: v) }
            case .leaveGroup: return try run(LeaveGroupRequest.self, header, &body) { r, v in self.groups.handle(r, version: v) }
            case .offsetCommit: return try run(OffsetCommitRequest.self, header, &body) { r, v in self.groups.handle(r, version: v) }
            case .offsetFetch: return try run(OffsetFetchRequest.self, header, &body) { r, v in self.groups.handle(r, version: v) }
            case .offsetDelete: return try run(OffsetDeleteRequest.self, header, &body) { r, v in self.groups.handle(r, version: v) }
            case .listGroups: return try run(ListGroupsRequest.self, header, &body) { r, v in self.groups.handle(r, version: v) }
            case .describeGroups: return try run(DescribeGroupsRequest.self, header, &body) { r, v in self.groups.handle(r, version: v) }
            case .deleteGroups: return try run(DeleteGroupsRequest.self, header, &body) { r, v in self.groups.handle(r, version: v) }
            default:
                return .closeConnection(reason: "API \(key) is advertised but has no handler")
            }
        } catch {
            return .closeConnection(reason: "malformed \(key) v\(header.apiVersion) request (correlation id \(header.correlationId)): \(error)")
        }
    }

    private func run<Request: KafkaRequestMessage>(
        _ type: Request.Type, _ header: RequestHeader, _ body: inout ByteBuffer,
        _ handler: (Request, Int16) throws -> Request.Response
    ) throws -> RequestOutcome {
        let request = try Request(from: &body, version: header.apiVersion)
        let response = try handler(request, header.apiVersion)
        return .respond(try encode(response, header: header, key: Request.apiKey))
    }

    /// Frames a response: length prefix, response header (v0 or v1), body.
    func encode<Response: KafkaMessage>(_ response: Response, header: RequestHeader, key: APIKey) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeInteger(Int32(0))
        ResponseHeader.encode(correlationId: header.correlationId,
                              headerVersion: key.responseHeaderVersion(apiVersion: header.apiVersion), into: &buffer)
        try response.encode(into: &buffer, version: header.apiVersion)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}
