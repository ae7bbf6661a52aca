import Foundation
import Logging
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One audit line. Encoded as a single JSON object per line with sorted keys; absent optionals
/// are omitted.
public struct AuditEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// A request (or part of one) the authorizer denied.
        case denied
        /// An administrative change: ACLs, SCRAM credentials, ...
        case admin
        /// A failed SASL authentication.
        case authenticationFailed
    }

    /// RFC 3339 UTC with milliseconds.
    public var time: String
    public var kind: Kind
    /// `User:alice`, or `User:ANONYMOUS`.
    public var principal: String
    /// Client address.
    public var host: String
    /// API name, e.g. `Produce`, `CreateAcls`.
    public var api: String?
    /// ACL operation or admin action, e.g. `WRITE`, `CREATE_ACL`.
    public var operation: String?
    /// `TOPIC:orders`, `CLUSTER:kafka-cluster`, `USER:alice`.
    public var resource: String?
    /// `DENIED`, `SUCCESS`, `FAILURE`.
    public var result: String
    public var detail: String?

    public init(
        time: String, kind: Kind, principal: String, host: String, api: String? = nil,
        operation: String? = nil, resource: String? = nil, result: String, detail: String? = nil
    ) {
        self.time = time
        self.kind = kind
        self.principal = principal
        self.host = host
        self.api = api
        self.operation = operation
        self.resource = resource
        self.result = result
        self.detail = detail
    }
}

/// Appends audit events as JSON lines to their own file. Thread-safe; every line goes to the
/// kernel with one `write(2)` on an `O_APPEND` descriptor as it is recorded (no user-space
/// buffering), and with `syncEachLine` is fsynced too.
public final class AuditLog: @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32
    private let clock: @Sendable () -> Date
    private let syncEachLine: Bool
    private let logger: Logger
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
    public let url: URL

    public init(
        url: URL, syncEachLine: Bool = false, logger: Logger = Logger(label: "strait.security.audit"),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw SecurityStoreError.io("open \(url.path): errno \(errno)") }
        self.fd = fd
        self.url = url
        self.syncEachLine = syncEachLine
        self.logger = logger
        self.clock = clock
    }

    deinit {
        #if canImport(Glibc)
            if fd >= 0 { _ = Glibc.close(fd) }
        #else
            if fd >= 0 { _ = Darwin.close(fd) }
        #endif
    }

    public func close() {
        lock.withLock {
            if fd >= 0 {
                #if canImport(Glibc)
                    _ = Glibc.close(fd)
                #else
                    _ = Darwin.close(fd)
                #endif
                fd = -1
            }
        }
    }

    /// The current time as audit lines carry it.
    public func timestamp() -> String {
        let f = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!)
        return clock().formatted(f)
    }

    /// Writes one event. I/O errors are logged, never thrown: auditing must not fail requests.
    public func record(_ event: AuditEvent) {
        guard var line = try? encoder.encode(event) else { return }
        line.append(UInt8(ascii: "\n"))
        lock.withLock {
            guard fd >= 0 else { return }
            let ok = line.withUnsafeBytes { raw -> Bool in
                var offset = 0
                while offset < raw.count {
                    #if canImport(Glibc)
                        let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    #else
                        let n = Darwin.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    #endif
                    if n < 0 {
                        if errno == EINTR { continue }
                        return false
                    }
                    offset += n
                }
                return true
            }
            if !ok { logger.error("audit log write failed", metadata: ["path": "\(url.path)", "errno": "\(errno)"]) }
            if syncEachLine { _ = fsync(fd) }
        }
    }

    /// A denied authorization.
    public func denied(
        principal: KafkaPrincipal, host: String, api: String?, operation: AclOperation, resource: AclResource
    ) {
        record(
            AuditEvent(
                time: timestamp(), kind: .denied, principal: principal.description, host: host, api: api,
                operation: operation.name, resource: resource.description, result: "DENIED"))
    }

    /// An administrative change (or failed attempt at one).
    public func admin(
        principal: KafkaPrincipal, host: String, api: String, action: String, resource: String,
        success: Bool, detail: String? = nil
    ) {
        record(
            AuditEvent(
                time: timestamp(), kind: .admin, principal: principal.description, host: host, api: api,
                operation: action, resource: resource, result: success ? "SUCCESS" : "FAILURE", detail: detail))
    }

    /// A failed or refused SASL authentication, or a session ended because it expired. The
    /// principal is the user the client claimed (`User:ANONYMOUS` when it named none), the
    /// operation the mechanism, the detail the reason. Never a password.
    public func authenticationFailed(
        claimedUser: String?, host: String, mechanism: String?, detail: String,
        api: String = "SaslAuthenticate"
    ) {
        record(
            AuditEvent(
                time: timestamp(), kind: .authenticationFailed,
                principal: claimedUser.map { KafkaPrincipal.user($0).description }
                    ?? KafkaPrincipal.anonymous.description,
                host: host, api: api, operation: mechanism, result: "FAILURE", detail: detail))
    }
}
