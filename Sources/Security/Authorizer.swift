import Foundation
import KafkaProtocol

/// Result of creating one ACL (CreateAcls): error 0, or INVALID_REQUEST with a message.
public struct AclCreationResult: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
}

/// Result of one DeleteAcls filter: the bindings it removed, or an error.
public struct AclDeletionResult: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    public var deleted: [AclBinding]
}

/// The ACLs, persisted as one JSON file written atomically (`url == nil`: in memory).
/// Creating an ACL that exists already is a no-op success, as in Kafka.
public final class AclStore: @unchecked Sendable {
    struct Entry: Codable, Hashable {
        var resourceType: String
        var name: String
        var patternType: String
        var principal: String
        var host: String
        var operation: String
        var permission: String
    }

    struct FileFormat: Codable {
        var version: Int
        var acls: [Entry]
    }

    private let url: URL?
    private let lock = NSLock()
    /// In creation order.
    private var bindings: [AclBinding] = []
    private var set: Set<AclBinding> = []

    public init(url: URL?) throws {
        self.url = url
        guard let url, let data = try StoreFile.read(url) else { return }
        let file: FileFormat
        do { file = try JSONDecoder().decode(FileFormat.self, from: data) } catch {
            throw SecurityStoreError.corrupt("\(url.path): \(error)")
        }
        for e in file.acls {
            guard let rt = AclResourceType(name: e.resourceType), let pt = AclPatternType(name: e.patternType),
                let op = AclOperation(name: e.operation), let perm = AclPermissionType(name: e.permission)
            else {
                throw SecurityStoreError.corrupt("\(url.path): bad ACL entry \(e)")
            }
            let b = AclBinding(
                ResourcePattern(rt, e.name, pt),
                AccessControlEntry(principal: e.principal, host: e.host, operation: op, permission: perm))
            if let problem = b.validationError { throw SecurityStoreError.corrupt("\(url.path): \(problem)") }
            if set.insert(b).inserted { bindings.append(b) }
        }
    }

    public static func inMemory() -> AclStore { try! AclStore(url: nil) }

    public var count: Int { lock.withLock { bindings.count } }

    /// CreateAcls: one result per binding, in order. Valid bindings are persisted together.
    public func create(_ new: [AclBinding]) throws -> [AclCreationResult] {
        try lock.withLock {
            var nextBindings = bindings
            var nextSet = set
            let results = new.map { b -> AclCreationResult in
                if let problem = b.validationError {
                    return AclCreationResult(errorCode: .invalidRequest, errorMessage: problem)
                }
                if nextSet.insert(b).inserted { nextBindings.append(b) }
                return AclCreationResult(errorCode: .none, errorMessage: nil)
            }
            if nextBindings.count != bindings.count {
                try persist(nextBindings)
                bindings = nextBindings
                set = nextSet
            }
            return results
        }
    }

    /// DescribeAcls.
    public func describe(_ filter: AclBindingFilter) -> [AclBinding] {
        lock.withLock { bindings.filter(filter.matches) }
    }

    /// DeleteAcls: one result per filter, in order; a binding several filters match is reported
    /// by each of them.
    public func delete(_ filters: [AclBindingFilter]) throws -> [AclDeletionResult] {
        try lock.withLock {
            var doomed = Set<AclBinding>()
            let results = filters.map { f -> AclDeletionResult in
                if let problem = f.validationError {
                    return AclDeletionResult(errorCode: .invalidRequest, errorMessage: problem, deleted: [])
                }
                let matched = bindings.filter(f.matches)
                doomed.formUnion(matched)
                return AclDeletionResult(errorCode: .none, errorMessage: nil, deleted: matched)
            }
            if !doomed.isEmpty {
                let next = bindings.filter { !doomed.contains($0) }
                try persist(next)
                bindings = next
                set.subtract(doomed)
            }
            return results
        }
    }

    /// The ACLs that could apply to `resource`: literal same name, literal `*`, prefixes of the name.
    public func acls(for resource: AclResource) -> [AclBinding] {
        lock.withLock { bindings.filter { $0.pattern.covers(resource) } }
    }

    /// Every ACL on resources of `type`, whatever their names and pattern types.
    public func acls(ofType type: AclResourceType) -> [AclBinding] {
        lock.withLock { bindings.filter { $0.pattern.resourceType == type } }
    }

    private func persist(_ state: [AclBinding]) throws {
        guard let url else { return }
        let file = FileFormat(
            version: 1,
            acls: state.map {
                Entry(
                    resourceType: $0.pattern.resourceType.name, name: $0.pattern.name,
                    patternType: $0.pattern.patternType.name,
                    principal: $0.entry.principal, host: $0.entry.host, operation: $0.entry.operation.name,
                    permission: $0.entry.permission.name)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try StoreFile.write(try encoder.encode(file), to: url)
    }
}

public struct AuthorizerConfiguration: Sendable {
    /// Principals allowed everything (`super.users`).
    public var superUsers: Set<KafkaPrincipal>
    /// Kafka's `allow.everyone.if.no.acl.found`; off by default: a resource without ACLs is denied.
    public var allowEveryoneIfNoAclFound: Bool

    public init(superUsers: Set<KafkaPrincipal> = [], allowEveryoneIfNoAclFound: Bool = false) {
        self.superUsers = superUsers
        self.allowEveryoneIfNoAclFound = allowEveryoneIfNoAclFound
    }
}

/// Kafka's standard authorizer decision, over an `AclStore`:
/// 1. super users are allowed everything;
/// 2. a DENY matching the principal (or `User:*`), the host (or `*`) and the operation (or ALL)
///    denies, whatever ALLOWs exist;
/// 3. if no ACL at all applies to the resource, `allowEveryoneIfNoAclFound` decides;
/// 4. an ALLOW matching principal and host for the operation, ALL, or an operation implying it
///    (READ/WRITE/DELETE/ALTER → DESCRIBE, ALTER_CONFIGS → DESCRIBE_CONFIGS) allows;
/// 5. otherwise denied.
/// Denials are written to the audit log when one is configured and `audit` is true (pass false
/// when filtering, e.g. ListGroups, Metadata for all topics, as Kafka does not log those).
public final class Authorizer: Sendable {
    public let store: AclStore
    public let configuration: AuthorizerConfiguration
    public let auditLog: AuditLog?

    public init(store: AclStore, configuration: AuthorizerConfiguration = .init(), auditLog: AuditLog? = nil) {
        self.store = store
        self.configuration = configuration
        self.auditLog = auditLog
    }

    public func authorize(
        principal: KafkaPrincipal, host: String, operation: AclOperation, resource: AclResource,
        api: String? = nil, audit: Bool = true
    ) -> Bool {
        let allowed = decide(principal: principal, host: host, operation: operation, resource: resource)
        if !allowed, audit, let auditLog {
            auditLog.denied(principal: principal, host: host, api: api, operation: operation, resource: resource)
        }
        return allowed
    }

    func decide(principal: KafkaPrincipal, host: String, operation: AclOperation, resource: AclResource) -> Bool {
        if configuration.superUsers.contains(principal) { return true }
        let wanted = operation.allowedBy
        if wanted.isEmpty { return false }  // UNKNOWN, ANY, ALL are not requestable operations
        let acls = store.acls(for: resource)
        let applies = Self.entryMatcher(principal: principal, host: host)
        for b in acls
        where b.entry.permission == .deny && applies(b.entry)
            && (b.entry.operation == operation || b.entry.operation == .all)
        {
            return false
        }
        if acls.isEmpty { return configuration.allowEveryoneIfNoAclFound }
        return acls.contains {
            $0.entry.permission == .allow && applies($0.entry) && wanted.contains($0.entry.operation)
        }
    }

    /// Whether an entry names `principal` (or every principal of its type) and `host` (or `*`).
    static func entryMatcher(principal: KafkaPrincipal, host: String) -> (AccessControlEntry) -> Bool {
        let name = principal.description
        let wildcardPrincipal = "\(principal.type):*"
        return { e in
            (e.principal == name || e.principal == wildcardPrincipal)
                && (e.host == host || e.host == AccessControlEntry.wildcardHost)
        }
    }

    /// Kafka's `authorizeByResourceType` (KIP-679): whether `principal` may do `operation` on at
    /// least one resource of `resourceType`. Idempotent producers use it: InitProducerId without a
    /// transactional id is allowed with WRITE on any topic. Only entries for exactly `operation`
    /// or ALL count (no implied operations), for the principal (or `User:*`) and host (or `*`):
    /// 1. super users are allowed;
    /// 2. a DENY on the literal `*` denies;
    /// 3. with `allowEveryoneIfNoAclFound`, allowed (as Kafka's AclAuthorizer does);
    /// 4. an ALLOW on the literal `*` allows;
    /// 5. an ALLOW on a literal name allows unless a DENY on the same literal name or on a prefix
    ///    of it overrides it; an ALLOW on a prefix allows unless a DENY on a prefix of that prefix
    ///    (the same one included) overrides it;
    /// 6. otherwise denied. A denial is audited (operation, `TYPE:*`) when `audit` is true.
    public func authorizeByResourceType(
        principal: KafkaPrincipal, host: String, operation: AclOperation,
        resourceType: AclResourceType, api: String? = nil, audit: Bool = true
    ) -> Bool {
        let allowed = decideByResourceType(
            principal: principal, host: host, operation: operation, resourceType: resourceType)
        if !allowed, audit, let auditLog {
            auditLog.denied(
                principal: principal, host: host, api: api, operation: operation,
                resource: AclResource(resourceType, ResourcePattern.wildcard))
        }
        return allowed
    }

    func decideByResourceType(
        principal: KafkaPrincipal, host: String, operation: AclOperation,
        resourceType: AclResourceType
    ) -> Bool {
        if configuration.superUsers.contains(principal) { return true }
        if operation.allowedBy.isEmpty { return false }
        let applies = Self.entryMatcher(principal: principal, host: host)
        let relevant = store.acls(ofType: resourceType).filter {
            applies($0.entry) && ($0.entry.operation == operation || $0.entry.operation == .all)
        }
        var deniedLiterals = Set<String>(), deniedPrefixes = Set<String>()
        var allowedLiterals = Set<String>(), allowedPrefixes = Set<String>()
        for binding in relevant {
            let name = binding.pattern.name
            switch (binding.entry.permission, binding.pattern.patternType) {
            case (.deny, .literal): deniedLiterals.insert(name)
            case (.deny, .prefixed): deniedPrefixes.insert(name)
            case (.allow, .literal): allowedLiterals.insert(name)
            case (.allow, .prefixed): allowedPrefixes.insert(name)
            case (.deny, _), (.allow, _), (.unknown, _), (.any, _): break
            }
        }
        if deniedLiterals.contains(ResourcePattern.wildcard) { return false }
        if configuration.allowEveryoneIfNoAclFound { return true }
        if allowedLiterals.contains(ResourcePattern.wildcard) { return true }
        func overriddenByPrefix(_ name: String) -> Bool { deniedPrefixes.contains { name.hasPrefix($0) } }
        return allowedLiterals.contains { !deniedLiterals.contains($0) && !overriddenByPrefix($0) }
            || allowedPrefixes.contains { !overriddenByPrefix($0) }
    }

    // MARK: Administrative changes, audited

    /// CreateAcls on behalf of `principal` (the caller has checked ALTER on the cluster).
    public func createAcls(_ bindings: [AclBinding], by principal: KafkaPrincipal, host: String) throws
        -> [AclCreationResult]
    {
        let results = try store.create(bindings)
        for (b, r) in zip(bindings, results) {
            auditLog?.admin(
                principal: principal, host: host, api: "CreateAcls", action: "CREATE_ACL",
                resource: Self.describe(b), success: r.errorCode == .none, detail: r.errorMessage)
        }
        return results
    }

    /// DeleteAcls on behalf of `principal` (the caller has checked ALTER on the cluster).
    public func deleteAcls(_ filters: [AclBindingFilter], by principal: KafkaPrincipal, host: String) throws
        -> [AclDeletionResult]
    {
        let results = try store.delete(filters)
        for r in results {
            if r.errorCode != .none {
                auditLog?.admin(
                    principal: principal, host: host, api: "DeleteAcls", action: "DELETE_ACL",
                    resource: "filter", success: false, detail: r.errorMessage)
            }
            for b in r.deleted {
                auditLog?.admin(
                    principal: principal, host: host, api: "DeleteAcls", action: "DELETE_ACL",
                    resource: Self.describe(b), success: true)
            }
        }
        return results
    }

    static func describe(_ b: AclBinding) -> String {
        "\(b.pattern.resourceType.name):\(b.pattern.patternType.name):\(b.pattern.name) \(b.entry.permission.name) \(b.entry.operation.name) for \(b.entry.principal) from \(b.entry.host)"
    }
}
