import Foundation
import GroupCoordination
import KafkaProtocol
import NIOCore
import Security

/// ACL checks (Kafka's model, module Security) as the handlers use them. Without an authorizer
/// (`acl-authorizer: false`, the default) every check allows.
extension Broker {
    /// Whether the connection's principal may do `operation` on `resource`; a denial is audited.
    func allowed(_ operation: AclOperation, _ resource: AclResource, _ connection: ConnectionContext,
                 api: String, audit: Bool = true) -> Bool {
        guard let authorizer else { return true }
        return authorizer.authorize(principal: connection.session.principal, host: connection.remoteHost,
                                    operation: operation, resource: resource, api: api, audit: audit)
    }

    /// A per-request memo of `operation` on topics (each topic checked, and audited, once).
    func topicPermission(_ operation: AclOperation, _ connection: ConnectionContext, api: String,
                         audit: Bool = true) -> (String) -> Bool {
        guard authorizer != nil else { return { _ in true } }
        var memo: [String: Bool] = [:]
        return { topic in
            if let known = memo[topic] { return known }
            let verdict = self.allowed(operation, .topic(topic), connection, api: api, audit: audit)
            memo[topic] = verdict
            return verdict
        }
    }

    /// Auto-creation and CreateTopics: CREATE on the cluster, or on the topic.
    func mayCreate(_ topic: String, _ connection: ConnectionContext, api: String) -> Bool {
        allowed(.create, .cluster, connection, api: api, audit: false) || allowed(.create, .topic(topic), connection, api: api)
    }

    /// InitProducerId: a transactional producer needs WRITE on its transactional id
    /// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); an idempotent one IDEMPOTENT_WRITE on the cluster
    /// or, since Kafka 2.8 (KIP-679), WRITE on at least one topic (CLUSTER_AUTHORIZATION_FAILED).
    /// A denied idempotent producer is audited once, as IDEMPOTENT_WRITE on the cluster.
    func initProducerIdDenial(_ request: InitProducerIdRequest, _ connection: ConnectionContext) -> KafkaErrorCode? {
        guard let authorizer else { return nil }
        if let transactionalId = request.transactionalId {
            return allowed(.write, .transactionalId(transactionalId), connection, api: "InitProducerId")
                ? nil : .transactionalIdAuthorizationFailed
        }
        let principal = connection.session.principal, host = connection.remoteHost
        if allowed(.idempotentWrite, .cluster, connection, api: "InitProducerId", audit: false)
            || authorizer.authorizeByResourceType(principal: principal, host: host, operation: .write, resourceType: .topic,
                                                  audit: false) {
            return nil
        }
        authorizer.auditLog?.denied(principal: principal, host: host, api: "InitProducerId", operation: .idempotentWrite,
                                    resource: .cluster)
        return .clusterAuthorizationFailed
    }

    /// The group a group API names must allow `operation`, else GROUP_AUTHORIZATION_FAILED.
    func groupDenied(_ group: String, _ operation: AclOperation, _ connection: ConnectionContext, api: String) -> Bool {
        !allowed(operation, .group(group), connection, api: api)
    }

    /// Describe/AlterConfigs: topic resources (type 2) need the operation on the topic, broker
    /// resources (type 4) on the cluster.
    func configAllowed(_ resourceType: Int8, _ name: String, _ operation: AclOperation, _ connection: ConnectionContext,
                       _ api: String) -> Bool {
        resourceType == 2 ? allowed(operation, .topic(name), connection, api: api) : allowed(operation, .cluster, connection, api: api)
    }

    /// OffsetCommit: READ on the group, and READ on each topic (partitions of denied topics get
    /// TOPIC_AUTHORIZATION_FAILED, the others are committed).
    func authorizedOffsetCommit(_ request: OffsetCommitRequest, version: Int16, connection: ConnectionContext) -> OffsetCommitResponse {
        if groupDenied(request.groupId, .read, connection, api: "OffsetCommit") {
            return OffsetCommitResponse(throttleTimeMs: 0, topics: request.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map {
                    .init(partitionIndex: $0.partitionIndex, errorCode: .groupAuthorizationFailed) })
            })
        }
        let readable = topicPermission(.read, connection, api: "OffsetCommit")
        var allowedRequest = request
        allowedRequest.topics = request.topics.filter { readable($0.name) }
        var response = groups.handle(allowedRequest, version: version)
        for topic in request.topics where !readable(topic.name) {
            response.topics.append(.init(name: topic.name, partitions: topic.partitions.map {
                .init(partitionIndex: $0.partitionIndex, errorCode: .topicAuthorizationFailed) }))
        }
        return response
    }

    /// OffsetFetch: DESCRIBE on each group (v8+ asks for several).
    func authorizedOffsetFetch(_ request: OffsetFetchRequest, version: Int16, connection: ConnectionContext) -> OffsetFetchResponse {
        if version < 8 {
            guard !groupDenied(request.groupId, .describe, connection, api: "OffsetFetch") else {
                return OffsetFetchResponse(throttleTimeMs: 0, topics: [], errorCode: .groupAuthorizationFailed)
            }
            return groups.handle(request, version: version)
        }
        let denied = Set(request.groups.map(\.groupId).filter { groupDenied($0, .describe, connection, api: "OffsetFetch") })
        var allowedRequest = request
        allowedRequest.groups = request.groups.filter { !denied.contains($0.groupId) }
        var response = groups.handle(allowedRequest, version: version)
        response.groups += denied.sorted().map { .init(groupId: $0, topics: [], errorCode: .groupAuthorizationFailed) }
        return response
    }

    /// Serves the resources the principal may touch (`serve` gets them in request order and
    /// answers each) and answers the others with `denied`, keeping the request's order.
    func servePermitted<Resource, Answer>(_ resources: [Resource], permitted: (Resource) -> Bool,
                                          serve: ([Resource]) -> [Answer], denied: (Resource) -> Answer) -> [Answer] {
        let verdicts = resources.map(permitted)
        var answers = serve(zip(resources, verdicts).filter(\.1).map(\.0)).makeIterator()
        return zip(resources, verdicts).map { resource, ok in ok ? answers.next()! : denied(resource) }
    }

    /// Audit lines for Alter/IncrementalAlterConfigs results (resource type 2 is a topic).
    func auditConfigChanges(_ api: String, _ results: [(type: Int8, name: String, errorCode: KafkaErrorCode, message: String?)],
                            _ connection: ConnectionContext) {
        for result in results {
            auditAdmin(api, "ALTER_CONFIGS", "\(result.type == 2 ? "TOPIC" : "BROKER"):\(result.name)",
                       errorCode: result.errorCode, connection, detail: result.message)
        }
    }

    /// One audit line per administrative change (when the audit log is on).
    func auditAdmin(_ api: String, _ action: String, _ resource: String, errorCode: KafkaErrorCode, _ connection: ConnectionContext,
                    detail: String? = nil) {
        auditLog?.admin(principal: connection.session.principal, host: connection.remoteHost, api: api,
                        action: action, resource: resource, success: errorCode == 0, detail: detail)
    }

    // MARK: ACL APIs

    func createAcls(_ request: CreateAclsRequest, connection: ConnectionContext) -> CreateAclsResponse {
        func all(_ code: KafkaErrorCode, _ message: String) -> CreateAclsResponse {
            CreateAclsResponse(throttleTimeMs: 0, results: request.creations.map { _ in .init(errorCode: code, errorMessage: message) })
        }
        guard let authorizer else { return all(.securityDisabled, "no authorizer is configured (acl-authorizer: false)") }
        guard allowed(.alter, .cluster, connection, api: "CreateAcls") else {
            return all(.clusterAuthorizationFailed, "not authorized to alter the cluster's ACLs")
        }
        var bindings: [AclBinding] = []
        var invalid: [Int: String] = [:]
        for (index, creation) in request.creations.enumerated() {
            guard let type = AclResourceType(rawValue: creation.resourceType),
                  let pattern = AclPatternType(rawValue: creation.resourcePatternType),
                  let operation = AclOperation(rawValue: creation.operation),
                  let permission = AclPermissionType(rawValue: creation.permissionType) else {
                invalid[index] = "unknown resource type, pattern type, operation or permission"
                continue
            }
            let binding = AclBinding(ResourcePattern(type, creation.resourceName, pattern),
                                     AccessControlEntry(principal: creation.principal, host: creation.host,
                                                        operation: operation, permission: permission))
            if let problem = binding.validationError { invalid[index] = problem; continue }
            bindings.append(binding)
        }
        let created: [AclCreationResult]
        do {
            created = try authorizer.createAcls(bindings, by: connection.session.principal, host: connection.remoteHost)
        } catch {
            return all(.invalidRequest, "could not store the ACLs: \(error)")
        }
        var results: [CreateAclsResponse.AclCreationResult] = []
        var next = created.makeIterator()
        for index in request.creations.indices {
            if let problem = invalid[index] {
                results.append(.init(errorCode: .invalidRequest, errorMessage: problem))
            } else if let result = next.next() {
                results.append(.init(errorCode: result.errorCode, errorMessage: result.errorMessage))
            }
        }
        return CreateAclsResponse(throttleTimeMs: 0, results: results)
    }

    private static func filter(resourceType: Int8, name: String?, patternType: Int8, principal: String?, host: String?,
                               operation: Int8, permission: Int8) -> AclBindingFilter? {
        guard let type = AclResourceType(rawValue: resourceType), let pattern = AclPatternType(rawValue: patternType),
              let operation = AclOperation(rawValue: operation), let permission = AclPermissionType(rawValue: permission) else { return nil }
        return AclBindingFilter(ResourcePatternFilter(type, name, pattern),
                                AccessControlEntryFilter(principal: principal, host: host, operation: operation, permission: permission))
    }

    func describeAcls(_ request: DescribeAclsRequest, connection: ConnectionContext) -> DescribeAclsResponse {
        func failed(_ code: KafkaErrorCode, _ message: String) -> DescribeAclsResponse {
            DescribeAclsResponse(throttleTimeMs: 0, errorCode: code, errorMessage: message, resources: [])
        }
        guard let authorizer else { return failed(.securityDisabled, "no authorizer is configured (acl-authorizer: false)") }
        guard allowed(.describe, .cluster, connection, api: "DescribeAcls") else {
            return failed(.clusterAuthorizationFailed, "not authorized to describe the cluster's ACLs")
        }
        guard let filter = Self.filter(resourceType: request.resourceTypeFilter, name: request.resourceNameFilter,
                                       patternType: request.patternTypeFilter, principal: request.principalFilter,
                                       host: request.hostFilter, operation: request.operation, permission: request.permissionType) else {
            return failed(.invalidRequest, "unknown resource type, pattern type, operation or permission in the filter")
        }
        var grouped: [ResourcePattern: [AccessControlEntry]] = [:]
        for binding in authorizer.store.describe(filter) { grouped[binding.pattern, default: []].append(binding.entry) }
        return DescribeAclsResponse(
            throttleTimeMs: 0, errorCode: 0, errorMessage: nil,
            resources: grouped.sorted { "\($0.key)" < "\($1.key)" }.map { pattern, entries in
                .init(resourceType: pattern.resourceType.rawValue, resourceName: pattern.name, patternType: pattern.patternType.rawValue,
                      acls: entries.map { .init(principal: $0.principal, host: $0.host, operation: $0.operation.rawValue,
                                                permissionType: $0.permission.rawValue) })
            })
    }

    func deleteAcls(_ request: DeleteAclsRequest, connection: ConnectionContext) -> DeleteAclsResponse {
        func all(_ code: KafkaErrorCode, _ message: String) -> DeleteAclsResponse {
            DeleteAclsResponse(throttleTimeMs: 0, filterResults: request.filters.map { _ in
                .init(errorCode: code, errorMessage: message, matchingAcls: []) })
        }
        guard let authorizer else { return all(.securityDisabled, "no authorizer is configured (acl-authorizer: false)") }
        guard allowed(.alter, .cluster, connection, api: "DeleteAcls") else {
            return all(.clusterAuthorizationFailed, "not authorized to alter the cluster's ACLs")
        }
        var filters: [AclBindingFilter] = []
        for wanted in request.filters {
            guard let filter = Self.filter(resourceType: wanted.resourceTypeFilter, name: wanted.resourceNameFilter,
                                           patternType: wanted.patternTypeFilter, principal: wanted.principalFilter,
                                           host: wanted.hostFilter, operation: wanted.operation, permission: wanted.permissionType) else {
                return all(.invalidRequest, "unknown resource type, pattern type, operation or permission in a filter")
            }
            filters.append(filter)
        }
        do {
            let results = try authorizer.deleteAcls(filters, by: connection.session.principal, host: connection.remoteHost)
            return DeleteAclsResponse(throttleTimeMs: 0, filterResults: results.map { result in
                .init(errorCode: result.errorCode, errorMessage: result.errorMessage,
                      matchingAcls: result.deleted.map { binding in
                          .init(errorCode: 0, errorMessage: nil, resourceType: binding.pattern.resourceType.rawValue,
                                resourceName: binding.pattern.name, patternType: binding.pattern.patternType.rawValue,
                                principal: binding.entry.principal, host: binding.entry.host,
                                operation: binding.entry.operation.rawValue, permissionType: binding.entry.permission.rawValue)
                      })
            })
        } catch {
            return all(.invalidRequest, "could not store the ACLs: \(error)")
        }
    }
}
