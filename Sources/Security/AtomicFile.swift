import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a whole file so that a reader (or a crash) sees either the old or the new contents:
/// write a temp file beside it, fsync it, rename it over the target, fsync the directory.
enum AtomicFile {
    static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temp = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw SecurityStoreError.io("open \(temp.path): errno \(errno)") }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc_write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    unlink(temp.path)
                    throw SecurityStoreError.io("write \(temp.path): errno \(errno)")
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else {
            unlink(temp.path)
            throw SecurityStoreError.io("fsync \(temp.path): errno \(errno)")
        }
        close(fd)
        closed = true
        guard rename(temp.path, url.path) == 0 else {
            unlink(temp.path)
            throw SecurityStoreError.io("rename to \(url.path): errno \(errno)")
        }
        let dfd = open(directory.path, O_RDONLY)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
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

@inline(__always)
private func Glibc_write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
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
