import ListenerSettings
import GroupCoordination
import Security
import LogStorage

/// Everything a broker needs to know at start-up. Built by the `strait broker` command from its
/// flags and config file; tests build it directly.
public struct BrokerConfig: Sendable {
    public var nodeId: Int32 = 0
    /// Set once per data directory; nil means "use the stored one, or create one".
    public var clusterId: String?
    public var advertisedHost: String = "127.0.0.1"
    public var advertisedPort: Int32 = 9092
    public var autoCreateTopics: Bool = true
    public var defaultPartitions: Int32 = 1
    /// Log settings every topic starts from; topic configs override them.
    public var log: LogConfig = LogConfig()
    /// Largest record batch a producer may send (Kafka's message.max.bytes).
    public var messageMaxBytes: Int = 1_048_588
    /// Largest request frame accepted on a connection (Kafka's socket.request.max.bytes).
    public var maxRequestBytes: Int = 100 * 1024 * 1024
    public var retentionCheckIntervalMs: Int64 = 300_000
    /// How often the log cleaner looks for compacted topics with something to clean.
    public var logCleanerIntervalMs: Int64 = 15_000
    /// Default for topics' delete.retention.ms.
    public var deleteRetentionMs: Int64 = 86_400_000
    /// The interval of the `interval` flush policy (kept when the policy is `per-batch`).
    public var flushIntervalMs: Int64 = 1000
    /// Whether StraitMirrorAppend (the replicator's offset-preserving API) is offered. Off, the
    /// broker looks like any Kafka target to a replicator, which then translates offsets.
    public var mirrorAPI: Bool = true
    /// Listeners beyond the `--listen` one (which is PLAINTEXT).
    public var listeners: [ListenerSpec] = []
    /// Enforce ACLs (`acl-authorizer`); off, every request is allowed.
    public var aclAuthorizer: Bool = false
    /// Principals ACLs never restrict (`super-users`, e.g. "User:admin;User:mirror").
    public var superUsers: [String] = []
    /// Where audit lines go (`audit-log`); default `audit.log` in the data directory.
    public var auditLogFile: String?
    /// SASL mechanisms offered on SASL listeners (`sasl-mechanisms`).
    public var saslMechanisms: [SaslMechanism] = [.scramSha256, .scramSha512]
    /// KIP-368 (`connections-max-reauth-ms`, Kafka's `connections.max.reauth.ms`): how long a
    /// SASL session lasts before the client must re-authenticate on its connection; 0: forever.
    /// A listener may set its own (`ListenerSpec.connectionsMaxReauthMs`).
    public var connectionsMaxReauthMs: Int64 = 0
    /// The largest frame a client on a SASL listener may send before it has authenticated
    /// (`sasl-max-receive-bytes`, Kafka's `sasl.server.max.receive.size`); a larger one closes
    /// the connection before its body is read.
    public var saslMaxReceiveBytes: Int = 524_288
    /// Certificate, key and client-certificate policy of the TLS listeners.
    public var tls: BrokerTLSSettings?
    /// Session-timeout bounds, initial rebalance delay, group size and commit-metadata limits,
    /// offset retention.
    public var groupCoordinator = GroupCoordinatorConfig()
    /// Set by `offsets-retention-ms`, which then wins over `offsets-retention-minutes` whatever
    /// their order (as Kafka's `*.ms` settings win over `*.minutes`).
    var offsetsRetentionMsIsExplicit = false

    public init() {}

    /// The session lifetime limit of SASL connections on the listener named `name` (0: none).
    public func connectionsMaxReauthMs(listener name: String) -> Int64 {
        listeners.first { $0.name == name }?.connectionsMaxReauthMs ?? connectionsMaxReauthMs
    }

    /// The audit log is written when ACLs are enforced or some listener authenticates with SASL
    /// (failed authentications are audited).
    public var auditLogEnabled: Bool {
        aclAuthorizer || listeners.contains { $0.securityProtocol.usesSASL }
    }
}
