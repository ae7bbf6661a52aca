/// The request/response pairs the generator emits. Adding an API is one line: its schema name
/// without the "Request"/"Response" suffix.
let selectedAPIs: [String] = [
    "ApiVersions",
    "Metadata",
    "Produce",
    "Fetch",
    "ListOffsets",
    "FindCoordinator",
    "JoinGroup",
    "SyncGroup",
    "Heartbeat",
    "LeaveGroup",
    "OffsetCommit",
    "OffsetFetch",
    "OffsetDelete",
    "InitProducerId",
    "DescribeGroups",
    "ListGroups",
    "DeleteGroups",
    "CreateTopics",
    "DeleteTopics",
    "DeleteRecords",
    "CreatePartitions",
    "DescribeConfigs",
    "AlterConfigs",
    "IncrementalAlterConfigs",
    "DescribeCluster",
    "DescribeAcls",
    "CreateAcls",
    "DeleteAcls",
    "SaslHandshake",
    "SaslAuthenticate",
    "OffsetForLeaderEpoch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "TxnOffsetCommit",
    "DescribeUserScramCredentials",
    "AlterUserScramCredentials",
    "DescribeProducers"
]

/// Data schemas (no API key) the generator emits as well.
let selectedDataSchemas: [String] = [
    "ConsumerProtocolSubscription",
    "ConsumerProtocolAssignment"
]

/// Strait-only APIs (schemas in Kafka's format, kept in `Sources/KafkaProtocol/StraitSchemas`,
/// read from the directory given with `--strait-schemas`). Their API keys are far above Kafka's.
let selectedStraitAPIs: [String] = [
    "StraitMirrorAppend"
]
