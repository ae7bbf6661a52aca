import NIOCore
import KafkaProtocol

/// The versions the client implements per API: a version is listed only when every operation
/// built on that API handles its fields correctly (not merely because the generated type can
/// encode it).
public struct ClientAPIVersions: Sendable, Equatable {
    public private(set) var ranges: [APIKey: ClosedRange<Int16>]

    public init(_ ranges: [APIKey: ClosedRange<Int16>]) { self.ranges = ranges }

    public subscript(api: APIKey) -> ClosedRange<Int16>? {
        get { ranges[api] }
        set { ranges[api] = newValue }
    }

    /// What this client implements. Produce/Fetch/admin APIs are added with the operations that use them.
    public static let implemented = ClientAPIVersions([
        .apiVersions: 0...4,
        .metadata: 0...12,
        // v0 answers in the deprecated "old style offsets" array; not implemented.
        .listOffsets: 1...9,
        .findCoordinator: 0...6,
        .listGroups: 0...5,
        .describeGroups: 0...5,
        // v0 reads offsets that ZooKeeper-era consumers stored in ZooKeeper, not the group's.
        .offsetFetch: 1...9,
        // Record batches (magic 2) need Produce 3+ and Fetch 4+ (Kafka 4 removed the older ones).
        .produce: 3...11,
        // 13+ name topics by id; `fetch` drops to 12 when metadata has no topic id.
        .fetch: 4...17,
        // v0/v1 commit to ZooKeeper-era storage / with per-partition timestamps; Kafka 4 removed them.
        .offsetCommit: 2...9,
        .createTopics: 0...7,
        .deleteTopics: 0...6,
        .createPartitions: 0...3,
        .describeConfigs: 0...4,
        .incrementalAlterConfigs: 0...1
    ])
}

/// The API versions one broker advertised in its ApiVersions response.
public struct BrokerAPIVersions: Sendable, Equatable {
    public private(set) var ranges: [Int16: ClosedRange<Int16>]
    /// The ApiVersions version that produced this table.
    public var apiVersionsVersion: Int16

    public init(ranges: [Int16: ClosedRange<Int16>], apiVersionsVersion: Int16) {
        self.ranges = ranges
        self.apiVersionsVersion = apiVersionsVersion
    }

    init(_ response: ApiVersionsResponse, version: Int16) {
        var ranges: [Int16: ClosedRange<Int16>] = [:]
        for key in response.apiKeys where key.minVersion <= key.maxVersion {
            ranges[key.apiKey] = key.minVersion...key.maxVersion
        }
        self.init(ranges: ranges, apiVersionsVersion: version)
    }

    public subscript(api: APIKey) -> ClosedRange<Int16>? { ranges[api.rawValue] }

    /// The highest version in `client` that the broker also supports, or nil.
    public func highestCommonVersion(_ api: APIKey, client: ClosedRange<Int16>) -> Int16? {
        guard let broker = ranges[api.rawValue] else { return nil }
        return Self.highestCommon(client, broker)
    }

    /// The highest version in both ranges, or nil when they do not overlap.
    public static func highestCommon(_ a: ClosedRange<Int16>, _ b: ClosedRange<Int16>) -> Int16? {
        let high = min(a.upperBound, b.upperBound)
        let low = max(a.lowerBound, b.lowerBound)
        return low <= high ? high : nil
    }
}

/// Pure ApiVersions negotiation steps (KIP-511), kept apart from I/O so they can be tested alone.
enum ApiVersionsNegotiation {
    /// What to do with one ApiVersions response body.
    enum Step: Equatable {
        /// Negotiated: the broker's table.
        case done(BrokerAPIVersions)
        /// The broker rejected our version; ask again with this one.
        case retry(version: Int16)
        case failed(KafkaErrorCode)
    }

    /// Decodes the body of an ApiVersions response to a request sent at `sentVersion`.
    ///
    /// Both layouts start with an INT16 error code. A broker that does not support `sentVersion`
    /// answers UNSUPPORTED_VERSION in the v0 layout, listing at least its own ApiVersions range:
    /// retry with min(our max, its max). If it lists no range for ApiVersions, fall back to v0.
    static func step(body: ByteBuffer, sentVersion: Int16, clientRange: ClosedRange<Int16>) throws -> Step {
        guard let code = body.getInteger(at: body.readerIndex, as: Int16.self) else {
            throw KafkaDecodingError.truncated(what: "ApiVersionsResponse.ErrorCode")
        }
        if code == KafkaErrorCode.unsupportedVersion.rawValue {
            var v0 = body
            // A broker may not be able to list anything beyond the error; treat that as "try v0".
            let response = try? ApiVersionsResponse(from: &v0, version: 0)
            let next: Int16
            if let brokerRange = response.flatMap({ BrokerAPIVersions($0, version: 0)[.apiVersions] }),
                let common = BrokerAPIVersions.highestCommon(clientRange, brokerRange)
            {
                next = common
            } else {
                next = clientRange.lowerBound
            }
            // Never retry with the version that was just rejected (or a higher one).
            return next < sentVersion ? .retry(version: next) : .failed(.unsupportedVersion)
        }
        var buffer = body
        let response = try ApiVersionsResponse(from: &buffer, version: sentVersion)
        guard !response.errorCode.isError else { return .failed(response.errorCode) }
        return .done(BrokerAPIVersions(response, version: sentVersion))
    }
}
