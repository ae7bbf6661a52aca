import DurableFile
import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The stores' JSON files: read whole, and replaced with DurableFile's `AtomicFile` (owner-only
/// permissions; a temporary name unique to the writing process, as `strait users` may write while
/// a broker does).
enum StoreFile {
    static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do throws(AtomicFileError) {
            try AtomicFile.write(Array(data), to: url.path, temporaryPath: temporary.path, permissions: 0o600)
        } catch {
            throw SecurityStoreError.io(error.description)
        }
    }

    /// Reads the file, or nil when it does not exist.
    static func read(_ url: URL) throws -> Data? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw SecurityStoreError.io("read \(url.path): \(error)")
        }
    }
}

/// Failures of the file-backed stores.
public enum SecurityStoreError: Error, Equatable, CustomStringConvertible {
    case io(String)
    case corrupt(String)

    public var description: String {
        switch self {
        case let .io(message): "I/O error: \(message)"
        case let .corrupt(message): "corrupt store file: \(message)"
        }
    }
}
