import GroupCoordination
import KafkaProtocol
import LogStorage
import NIOCore

/// The APIs this broker serves, in the order ApiVersions lists them. `Broker.dispatch` switches
/// over this enum without a `default:`, so an API added here without a handler does not compile.
/// A key outside it (unknown to Kafka, or known but not served here) is unsupported: the
/// connection is closed, as Kafka does.
public enum BrokerAPI: Int16, CaseIterable, Sendable {
    case produce = 0, fetch = 1, listOffsets = 2, metadata = 3, findCoordinator = 10, apiVersions = 18
    case createTopics = 19, deleteTopics = 20, deleteRecords = 21, initProducerId = 22
    case describeConfigs = 32, alterConfigs = 33, createPartitions = 37, incrementalAlterConfigs = 44
    case describeCluster = 60, saslHandshake = 17, createAcls = 30, describeAcls = 29, deleteAcls = 31
    case saslAuthenticate = 36, describeUserScramCredentials = 50, alterUserScramCredentials = 51
    /// Strait-only: the replicator's offset-preserving append into mirror topics (docs/broker.md).
    case straitMirrorAppend = 20000
    // Consumer groups (module GroupCoordination).
    case offsetCommit = 8, offsetFetch = 9, joinGroup = 11, heartbeat = 12, leaveGroup = 13, syncGroup = 14
    case describeGroups = 15, listGroups = 16, deleteGroups = 42, offsetDelete = 47

    public var key: APIKey { APIKey(rawValue: rawValue)! }

    /// The versions advertised in ApiVersions.
    public var versions: ClosedRange<Int16> {
        switch self {
        // Produce v0-2 are advertised (old librdkafka enables compression only when the range
        // contains v0) but answered with UNSUPPORTED_VERSION, as Kafka 4.0 does.
        case .produce: 0...11
        case .fetch: 4...12
        case .listOffsets: 1...9
        case .metadata: 0...12
        // Needed by librdkafka < 2.11.1 to enable LZ4; the broker is its own coordinator.
        case .findCoordinator: 0...6
        case .apiVersions: 0...4
        case .createTopics: 0...7
        case .deleteTopics: 0...6
        case .deleteRecords: 0...2
        case .initProducerId: 0...5
        case .describeConfigs: 0...4
        case .alterConfigs: 0...2
        case .createPartitions: 0...3
        case .incrementalAlterConfigs: 0...1
        case .describeCluster: 0...1
        // SASL: after a SaslHandshake v0 the tokens travel raw (length-prefixed, no request
        // header); v1 wraps them in SaslAuthenticate.
        case .saslHandshake: 0...1
        case .createAcls, .describeAcls, .deleteAcls: 0...3
        case .saslAuthenticate: 0...2
        case .describeUserScramCredentials, .alterUserScramCredentials: 0...0
        case .straitMirrorAppend: 0...0
        case .offsetCommit, .offsetFetch, .joinGroup, .heartbeat, .leaveGroup, .syncGroup, .describeGroups, .listGroups,
            .deleteGroups, .offsetDelete:
            GroupCoordinator.supportedVersions.first { $0.0 == key }!.1
        }
    }
}

/// The API versions this broker advertises. Only keys that are implemented are listed: clients
/// take an unlisted key as "unsupported" and use their fallbacks.
public enum SupportedAPIs {
    public static let versions: [(APIKey, ClosedRange<Int16>)] = BrokerAPI.allCases.map { ($0.key, $0.versions) }
}

extension Broker {
    /// Handles one request frame (without its 4-byte length prefix). The whole request, its
    /// authorization and its handler run on `BlockingIOExecutor.shared`, never on the cooperative
    /// pool: handlers append, fsync, create files and write audit lines synchronously.
    /// `BrokerService` runs each connection's task on that executor already, so for it the
    /// preference below costs no thread hop; any other caller (tests) is moved there.
    public func handle(frame: ByteBuffer, connection: ConnectionContext) async -> RequestOutcome {
        await BlockingIOThreads.$checked.withValue(true) {
            await withTaskExecutorPreference(blockingIO) {
                // Handlers are synchronous: whatever they call blocks this thread, so this covers
                // the blocking calls without a check of their own (ACL and credential files, audit lines).
                BlockingIOThreads.assertMayBlock("a request")
                return await dispatch(frame: frame, connection: connection)
            }
        }
    }

    private func dispatch(frame: ByteBuffer, connection: ConnectionContext) async -> RequestOutcome {
        if connection.session.framing.expectsRawSaslTokens { return rawSaslToken(frame, connection: connection) }
        var body = frame
        let header: RequestHeader
        do {
            header = try RequestHeader.decode(from: &body)
        } catch {
            return .closeConnection(reason: "malformed request header: \(error)")
        }
        guard let api = BrokerAPI(rawValue: header.apiKey), api != .straitMirrorAppend || config.mirrorAPI else {
            return .closeConnection(
                reason: "unsupported API key \(header.apiKey) (correlation id \(header.correlationId))")
        }
        let key = api.key, range = api.versions
        if let refusal = sessionRefusal(key, connection: connection) { return .closeConnection(reason: refusal) }
        guard range.contains(header.apiVersion) else {
            if api == .apiVersions { return .respond(apiVersionsFallback(correlationId: header.correlationId)) }
            return .closeConnection(
                reason:
                    "unsupported version \(header.apiVersion) of \(key) (supported \(range.lowerBound)-\(range.upperBound))"
            )
        }
        // Each case decodes, goes through the authorization step (Authorization.swift: the
        // `authorized...` functions, which call the handler with the permitted work only) and
        // encodes. APIs without one need no ACL (ApiVersions, SASL) or check the cluster
        // themselves before anything else (the ACL APIs).
        do {
            switch api {
            case .apiVersions: return try run(ApiVersionsRequest.self, header, &body) { r, _ in self.apiVersions(r) }
            case .metadata:
                return try run(MetadataRequest.self, header, &body) { r, v in
                    self.metadata(r, version: v, connection: connection)
                }
            case .produce:
                let request = try ProduceRequest(from: &body, version: header.apiVersion)
                let response = authorizedProduce(request, version: header.apiVersion, connection: connection)
                if request.acks == 0 { return .noResponse }
                return .respond(try encode(response, header: header, key: .produce))
            case .fetch:
                let request = try FetchRequest(from: &body, version: header.apiVersion)
                let response = await authorizedFetch(request, version: header.apiVersion, connection: connection)
                return .respond(try encode(response, header: header, key: .fetch))
            case .listOffsets:
                return try run(ListOffsetsRequest.self, header, &body) { r, v in
                    self.authorizedListOffsets(r, version: v, connection: connection)
                }
            case .findCoordinator:
                return try run(FindCoordinatorRequest.self, header, &body) { r, v in
                    self.findCoordinator(r, version: v, connection: connection)
                }
            case .createTopics:
                return try run(CreateTopicsRequest.self, header, &body) { r, v in
                    self.auditedCreateTopics(r, version: v, connection: connection)
                }
            case .deleteTopics:
                return try run(DeleteTopicsRequest.self, header, &body) { r, v in
                    self.auditedDeleteTopics(r, version: v, connection: connection)
                }
            case .deleteRecords:
                return try run(DeleteRecordsRequest.self, header, &body) { r, _ in
                    self.authorizedDeleteRecords(r, connection: connection)
                }
            case .initProducerId:
                return try run(InitProducerIdRequest.self, header, &body) { r, _ in
                    self.authorizedInitProducerId(r, connection: connection)
                }
            case .describeConfigs:
                return try run(DescribeConfigsRequest.self, header, &body) { r, v in
                    self.authorizedDescribeConfigs(r, version: v, connection: connection)
                }
            case .alterConfigs:
                return try run(AlterConfigsRequest.self, header, &body) { r, _ in
                    self.authorizedAlterConfigs(r, connection: connection)
                }
            case .incrementalAlterConfigs:
                return try run(IncrementalAlterConfigsRequest.self, header, &body) { r, _ in
                    self.authorizedIncrementalAlterConfigs(r, connection: connection)
                }
            case .createPartitions:
                return try run(CreatePartitionsRequest.self, header, &body) { r, _ in
                    self.authorizedCreatePartitions(r, connection: connection)
                }
            case .describeCluster:
                return try run(DescribeClusterRequest.self, header, &body) { r, v in
                    self.authorizedDescribeCluster(r, version: v, connection: connection)
                }
            case .straitMirrorAppend:
                return try run(StraitMirrorAppendRequest.self, header, &body) { r, _ in
                    self.authorizedMirrorAppend(r, connection: connection)
                }
            case .createAcls:
                return try run(CreateAclsRequest.self, header, &body) { r, _ in
                    self.createAcls(r, connection: connection)
                }
            case .describeAcls:
                return try run(DescribeAclsRequest.self, header, &body) { r, _ in
                    self.describeAcls(r, connection: connection)
                }
            case .deleteAcls:
                return try run(DeleteAclsRequest.self, header, &body) { r, _ in
                    self.deleteAcls(r, connection: connection)
                }
            case .saslHandshake:
                let request = try SaslHandshakeRequest(from: &body, version: header.apiVersion)
                let (response, close) = saslHandshake(request, version: header.apiVersion, connection: connection)
                let frame = try encode(response, header: header, key: .saslHandshake)
                return close
                    ? .respondAndClose(
                        frame, reason: "SaslHandshake in the middle of a SASL exchange (ILLEGAL_SASL_STATE)")
                    : .respond(frame)
            case .saslAuthenticate:
                let request = try SaslAuthenticateRequest(from: &body, version: header.apiVersion)
                let (response, close) = saslAuthenticate(request, connection: connection)
                let frame = try encode(response, header: header, key: .saslAuthenticate)
                return close
                    ? .respondAndClose(frame, reason: "SASL authentication failed: \(response.errorMessage ?? "")")
                    : .respond(frame)
            case .describeUserScramCredentials:
                return try run(DescribeUserScramCredentialsRequest.self, header, &body) { r, _ in
                    self.authorizedDescribeUserScramCredentials(r, connection: connection)
                }
            case .alterUserScramCredentials:
                return try run(AlterUserScramCredentialsRequest.self, header, &body) { r, _ in
                    self.authorizedAlterUserScramCredentials(r, connection: connection)
                }
            case .joinGroup:
                let request = try JoinGroupRequest(from: &body, version: header.apiVersion)
                let response = await authorizedJoinGroup(
                    request, version: header.apiVersion, client: clientInfo(header, connection), connection: connection)
                return .respond(try encode(response, header: header, key: .joinGroup))
            case .syncGroup:
                let request = try SyncGroupRequest(from: &body, version: header.apiVersion)
                let response = await authorizedSyncGroup(request, version: header.apiVersion, connection: connection)
                return .respond(try encode(response, header: header, key: .syncGroup))
            case .heartbeat:
                return try run(HeartbeatRequest.self, header, &body) { r, v in
                    self.authorizedHeartbeat(r, version: v, connection: connection)
                }
            case .leaveGroup:
                return try run(LeaveGroupRequest.self, header, &body) { r, v in
                    self.authorizedLeaveGroup(r, version: v, connection: connection)
                }
            case .offsetCommit:
                return try run(OffsetCommitRequest.self, header, &body) { r, v in
                    self.authorizedOffsetCommit(r, version: v, connection: connection)
                }
            case .offsetFetch:
                return try run(OffsetFetchRequest.self, header, &body) { r, v in
                    self.authorizedOffsetFetch(r, version: v, connection: connection)
                }
            case .offsetDelete:
                return try run(OffsetDeleteRequest.self, header, &body) { r, v in
                    self.authorizedOffsetDelete(r, version: v, connection: connection)
                }
            case .listGroups:
                return try run(ListGroupsRequest.self, header, &body) { r, v in
                    self.authorizedListGroups(r, version: v, connection: connection)
                }
            case .describeGroups:
                return try run(DescribeGroupsRequest.self, header, &body) { r, v in
                    self.authorizedDescribeGroups(r, version: v, connection: connection)
                }
            case .deleteGroups:
                return try run(DeleteGroupsRequest.self, header, &body) { r, v in
                    self.authorizedDeleteGroups(r, version: v, connection: connection)
                }
            }
        } catch {
            return .closeConnection(
                reason:
                    "malformed \(key) v\(header.apiVersion) request (correlation id \(header.correlationId)): \(error)")
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
        ResponseHeader.encode(
            correlationId: header.correlationId,
            headerVersion: key.responseHeaderVersion(apiVersion: header.apiVersion), into: &buffer)
        try response.encode(into: &buffer, version: header.apiVersion)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}
