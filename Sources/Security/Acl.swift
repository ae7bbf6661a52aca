import KafkaProtocol
/// Kafka's ACL model (KIP-290 patterns), with Kafka's int8 codes so the Create/Describe/DeleteAcls
/// types map 1:1.

public enum AclResourceType: Int8, Sendable, Hashable, CaseIterable {
    case unknown = 0, any = 1, topic = 2, group = 3, cluster = 4, transactionalId = 5, delegationToken = 6, user = 7

    public var name: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .any: "ANY"
        case .topic: "TOPIC"
        case .group: "GROUP"
        case .cluster: "CLUSTER"
        case .transactionalId: "TRANSACTIONAL_ID"
        case .delegationToken: "DELEGATION_TOKEN"
        case .user: "USER"
        }
    }

    public init?(name: String) {
        guard let v = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = v
    }

    /// The error a request gets when this kind of resource is denied.
    public var authorizationError: KafkaErrorCode {
        switch self {
        case .topic: .topicAuthorizationFailed
        case .group: .groupAuthorizationFailed
        case .transactionalId: .transactionalIdAuthorizationFailed
        case .cluster, .unknown, .any, .delegationToken, .user: .clusterAuthorizationFailed
        }
    }
}

public enum AclPatternType: Int8, Sendable, Hashable, CaseIterable {
    case unknown = 0, any = 1, match = 2, literal = 3, prefixed = 4

    public var name: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .any: "ANY"
        case .match: "MATCH"
        case .literal: "LITERAL"
        case .prefixed: "PREFIXED"
        }
    }

    public init?(name: String) {
        guard let v = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = v
    }
}

public enum AclOperation: Int8, Sendable, Hashable, CaseIterable {
    case unknown = 0, any = 1, all = 2, read = 3, write = 4, create = 5, delete = 6, alter = 7, describe = 8
    case clusterAction = 9, describeConfigs = 10, alterConfigs = 11, idempotentWrite = 12
    case createTokens = 13, describeTokens = 14

    public var name: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .any: "ANY"
        case .all: "ALL"
        case .read: "READ"
        case .write: "WRITE"
        case .create: "CREATE"
        case .delete: "DELETE"
        case .alter: "ALTER"
        case .describe: "DESCRIBE"
        case .clusterAction: "CLUSTER_ACTION"
        case .describeConfigs: "DESCRIBE_CONFIGS"
        case .alterConfigs: "ALTER_CONFIGS"
        case .idempotentWrite: "IDEMPOTENT_WRITE"
        case .createTokens: "CREATE_TOKENS"
        case .describeTokens: "DESCRIBE_TOKENS"
        }
    }

    public init?(name: String) {
        guard let v = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = v
    }

    /// Operations whose ALLOW also allows `self` (Kafka: READ, WRITE, DELETE and ALTER imply
    /// DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS; ALL implies everything).
    public var allowedBy: Set<AclOperation> {
        switch self {
        case .describe: [.describe, .all, .read, .write, .delete, .alter]
        case .describeConfigs: [.describeConfigs, .all, .alterConfigs]
        case .read, .write, .create, .delete, .alter, .clusterAction, .alterConfigs, .idempotentWrite,
            .createTokens, .describeTokens:
            [self, .all]
        case .unknown, .any, .all: []
        }
    }
}

public enum AclPermissionType: Int8, Sendable, Hashable, CaseIterable {
    case unknown = 0, any = 1, deny = 2, allow = 3

    public var name: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .any: "ANY"
        case .deny: "DENY"
        case .allow: "ALLOW"
        }
    }

    public init?(name: String) {
        guard let v = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = v
    }
}

/// A concrete resource a request touches.
public struct AclResource: Sendable, Hashable, CustomStringConvertible {
    public var type: AclResourceType
    public var name: String

    public init(_ type: AclResourceType, _ name: String) {
        self.type = type
        self.name = name
    }

    public static let clusterName = "kafka-cluster"
    public static let cluster = AclResource(.cluster, clusterName)
    public static func topic(_ name: String) -> AclResource { AclResource(.topic, name) }
    public static func group(_ name: String) -> AclResource { AclResource(.group, name) }
    public static func transactionalId(_ name: String) -> AclResource { AclResource(.transactionalId, name) }

    public var description: String { "\(type.name):\(name)" }
}

/// What an ACL applies to: a literal name (`*` = every resource of the type) or a name prefix.
public struct ResourcePattern: Sendable, Hashable {
    public static let wildcard = "*"
    public var resourceType: AclResourceType
    public var name: String
    public var patternType: AclPatternType

    public init(_ resourceType: AclResourceType, _ name: String, _ patternType: AclPatternType = .literal) {
        self.resourceType = resourceType
        self.name = name
        self.patternType = patternType
    }

    /// Whether this (concrete) pattern covers `resource`.
    public func covers(_ resource: AclResource) -> Bool {
        guard resourceType == resource.type else { return false }
        switch patternType {
        case .literal: return name == resource.name || name == Self.wildcard
        case .prefixed: return resource.name.hasPrefix(name)
        case .unknown, .any, .match: return false
        }
    }
}

/// Who may (or may not) do what from where. `principal` is `Type:name` (`User:*` = everyone),
/// `host` an address or `*`.
public struct AccessControlEntry: Sendable, Hashable {
    public static let wildcardPrincipal = "User:*"
    public static let wildcardHost = "*"
    public var principal: String
    public var host: String
    public var operation: AclOperation
    public var permission: AclPermissionType

    public init(principal: String, host: String = "*", operation: AclOperation, permission: AclPermissionType) {
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }
}

/// One ACL.
public struct AclBinding: Sendable, Hashable {
    public var pattern: ResourcePattern
    public var entry: AccessControlEntry

    public init(_ pattern: ResourcePattern, _ entry: AccessControlEntry) {
        self.pattern = pattern
        self.entry = entry
    }

    /// Why CreateAcls must refuse this binding (INVALID_REQUEST), or nil.
    public var validationError: String? {
        switch pattern.resourceType {
        case .topic, .group, .cluster, .transactionalId, .delegationToken, .user: break
        case .unknown, .any: return "Invalid resource type \(pattern.resourceType.name)"
        }
        switch pattern.patternType {
        case .literal, .prefixed: break
        case .unknown, .any, .match: return "Invalid pattern type \(pattern.patternType.name)"
        }
        if pattern.name.isEmpty { return "Resource name must not be empty" }
        if pattern.resourceType == .cluster && pattern.name != AclResource.clusterName {
            return "The only valid name for the CLUSTER resource is \(AclResource.clusterName)"
        }
        switch entry.operation {
        case .unknown, .any: return "Invalid operation \(entry.operation.name)"
        case .all, .read, .write, .create, .delete, .alter, .describe, .clusterAction, .describeConfigs,
            .alterConfigs, .idempotentWrite, .createTokens, .describeTokens:
            break
        }
        switch entry.permission {
        case .allow, .deny: break
        case .unknown, .any: return "Invalid permission type \(entry.permission.name)"
        }
        guard let p = KafkaPrincipal(parsing: entry.principal), !p.name.isEmpty else {
            return "Invalid principal \(entry.principal): expected Type:name"
        }
        if entry.host.isEmpty { return "Host must not be empty" }
        return nil
    }
}

/// Kafka's ResourcePatternFilter: `resourceType` ANY matches every type; a nil name every name;
/// pattern type ANY matches patterns with exactly this name (any type), MATCH every pattern that
/// would cover a resource of this name (same literal, the `*` literal, prefixes of it), LITERAL and
/// PREFIXED that pattern type with exactly this name.
public struct ResourcePatternFilter: Sendable, Hashable {
    public var resourceType: AclResourceType
    public var name: String?
    public var patternType: AclPatternType

    public init(_ resourceType: AclResourceType = .any, _ name: String? = nil, _ patternType: AclPatternType = .any) {
        self.resourceType = resourceType
        self.name = name
        self.patternType = patternType
    }

    public func matches(_ pattern: ResourcePattern) -> Bool {
        if resourceType != .any && resourceType != pattern.resourceType { return false }
        if patternType != .any && patternType != .match && patternType != pattern.patternType { return false }
        guard let name else { return true }
        if patternType == .any || patternType == pattern.patternType { return name == pattern.name }
        // MATCH
        switch pattern.patternType {
        case .literal: return name == pattern.name || pattern.name == ResourcePattern.wildcard
        case .prefixed: return name.hasPrefix(pattern.name)
        case .unknown, .any, .match: return false
        }
    }
}

/// Kafka's AccessControlEntryFilter: nil principal/host and ANY operation/permission match all.
public struct AccessControlEntryFilter: Sendable, Hashable {
    public var principal: String?
    public var host: String?
    public var operation: AclOperation
    public var permission: AclPermissionType

    public init(
        principal: String? = nil, host: String? = nil, operation: AclOperation = .any,
        permission: AclPermissionType = .any
    ) {
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    public func matches(_ entry: AccessControlEntry) -> Bool {
        if let principal, principal != entry.principal { return false }
        if let host, host != entry.host { return false }
        if operation != .any && operation != entry.operation { return false }
        if permission != .any && permission != entry.permission { return false }
        return true
    }
}

public struct AclBindingFilter: Sendable, Hashable {
    public var pattern: ResourcePatternFilter
    public var entry: AccessControlEntryFilter

    public init(_ pattern: ResourcePatternFilter = .init(), _ entry: AccessControlEntryFilter = .init()) {
        self.pattern = pattern
        self.entry = entry
    }

    public static let any = AclBindingFilter()

    public func matches(_ binding: AclBinding) -> Bool {
        pattern.matches(binding.pattern) && entry.matches(binding.entry)
    }

    /// Why Describe/DeleteAcls must refuse this filter (INVALID_REQUEST), or nil.
    public var validationError: String? {
        if pattern.resourceType == .unknown { return "Invalid resource type filter UNKNOWN" }
        if pattern.patternType == .unknown { return "Invalid pattern type filter UNKNOWN" }
        if entry.operation == .unknown { return "Invalid operation filter UNKNOWN" }
        if entry.permission == .unknown { return "Invalid permission type filter UNKNOWN" }
        return nil
    }
}
