#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import DurableFile
import NIOCore
import Synchronization

/// One open file of a partition directory. Positions are absolute; nothing keeps a file pointer,
/// so concurrent readers never disturb the appender.
public protocol LogFile: AnyObject, Sendable {
    /// Appends up to `count` bytes read at `offset` to `buffer`; returns how many were read
    /// (fewer only at end of file).
    func read(into buffer: inout ByteBuffer, count: Int, at offset: Int64) throws(LogError) -> Int
    /// Writes all `parts` back to back starting at `offset` (a gather write).
    func write(_ parts: [UnsafeRawBufferPointer], at offset: Int64) throws(LogError)
    func truncate(to size: Int64) throws(LogError)
    func size() throws(LogError) -> Int64
    /// Forces written data to stable storage.
    func sync() throws(LogError)
}

/// The directory a partition log lives in. `FileLog` uses `PosixFileSystem`; `InMemoryLog` uses
/// `MemoryFileSystem`; tests may wrap either to inject failures such as a full disk.
public protocol LogFileSystem: Sendable {
    func createDirectoryIfNeeded() throws(LogError)
    /// File names (not paths) in the directory.
    func list() throws(LogError) -> [String]
    /// Opens `name` for reading and writing, creating it empty if absent.
    func open(_ name: String) throws(LogError) -> any LogFile
    func exists(_ name: String) -> Bool
    func remove(_ name: String) throws(LogError)
    /// The whole content of a small file, or nil if it does not exist.
    func readSmallFile(_ name: String) throws(LogError) -> [UInt8]?
    /// Replaces `name` so that after a crash it holds either the old or the new content
    /// (write a temporary file, fsync, rename, fsync the directory).
    func replaceAtomically(_ name: String, with contents: [UInt8]) throws(LogError)
    /// Makes creations, renames and removals in the directory durable.
    func syncDirectory() throws(LogError)
    /// Renames `source` to `target`, atomically replacing `target` if it exists (rename(2)): after
    /// a crash `target` is either the old or the new file. Files already open keep working and
    /// follow the file they opened (an open `source` now reads `target`; an open old `target`
    /// still reads the replaced content until it is let go).
    func rename(_ source: String, to target: String) throws(LogError)
}

extension LogFileSystem {
    /// A fallback for file systems that cannot rename (wrappers should forward to their inner
    /// file system instead): copies `source` into `target` atomically, then removes `source`.
    public func rename(_ source: String, to target: String) throws(LogError) {
        guard let contents = try readSmallFile(source) else {
            throw .storage("rename \(source): No such file or directory")
        }
        try replaceAtomically(target, with: contents)
        try remove(source)
    }
}

// MARK: - POSIX

private func errnoText(_ operation: String, _ name: String, _ code: Int32 = errno) -> LogError {
    .storage("\(operation) \(name): \(String(cString: strerror(code)))")
}

/// A file descriptor kept open for the life of the object; closed when the last user lets go,
/// so a reader still holding a segment of a just-deleted file reads it safely.
public final class PosixFile: LogFile, @unchecked Sendable {
    public let path: String
    private let fd: Int32

    public init(path: String) throws(LogError) {
        self.path = path
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw errnoText("open", path) }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    public func read(into buffer: inout ByteBuffer, count: Int, at offset: Int64) throws(LogError) -> Int {
        guard count > 0 else { return 0 }
        let fd = self.fd
        var failure: Int32 = 0
        let total = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return done
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        if failure != 0 { throw errnoText("read", path, failure) }
        return total
    }

    public func write(_ parts: [UnsafeRawBufferPointer], at offset: Int64) throws(LogError) {
        BlockingIOThreads.assertMayBlock("pwritev \(path)")
        var vectors = parts.filter { $0.count > 0 }.map {
            iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress!), iov_len: $0.count)
        }
        var position = off_t(offset)
        var first = 0
        while first < vectors.count {
            let n = vectors[first...].withUnsafeBufferPointer {
                pwritev(fd, $0.baseAddress!, Int32(min($0.count, 1024)), position)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw errnoText("write", path)
            }
            if n == 0 { throw .storage("write \(path): no progress") }
            position += off_t(n)
            // Skip what was written; a short write resumes inside the current vector.
            var remaining = n
            while first < vectors.count, remaining >= vectors[first].iov_len {
                remaining -= vectors[first].iov_len
                first += 1
            }
            if remaining > 0 {
                vectors[first].iov_base = vectors[first].iov_base! + remaining
                vectors[first].iov_len -= remaining
            }
        }
    }

    public func truncate(to size: Int64) throws(LogError) {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw errnoText("truncate", path) }
        }
    }

    public func size() throws(LogError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw errnoText("stat", path) }
        return Int64(info.st_size)
    }

    public func sync() throws(LogError) {
        BlockingIOThreads.assertMayBlock("fdatasync \(path)")
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw errnoText("fsync", path) }
        }
    }
}

/// A real directory.
public struct PosixFileSystem: LogFileSystem {
    public let directory: String

    public init(directory: String) {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
    }

    private func path(_ name: String) -> String { directory + "/" + name }

    public func createDirectoryIfNeeded() throws(LogError) {
        // Create each missing component, like mkdir -p.
        var built = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o755) != 0, errno != EEXIST { throw errnoText("mkdir", built) }
        }
    }

    public func list() throws(LogError) -> [String] {
        guard let dir = opendir(directory) else { throw errnoText("opendir", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func open(_ name: String) throws(LogError) -> any LogFile { try PosixFile(path: path(name)) }

    public func exists(_ name: String) -> Bool { access(path(name), F_OK) == 0 }

    public func remove(_ name: String) throws(LogError) {
        if unlink(path(name)) != 0, errno != ENOENT { throw errnoText("unlink", path(name)) }
    }

    public func readSmallFile(_ name: String) throws(LogError) -> [UInt8]? {
        guard exists(name) else { return nil }
        let file = try PosixFile(path: path(name))
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        _ = try file.read(into: &buffer, count: Int(try file.size()), at: 0)
        return buffer.readBytes(length: buffer.readableBytes)
    }

    public func replaceAtomically(_ name: String, with contents: [UInt8]) throws(LogError) {
        BlockingIOThreads.assertMayBlock("replacing \(path(name))")
        do throws(AtomicFileError) {
            try AtomicFile.write(contents, to: path(name))
        } catch {
            throw .storage(error.description)
        }
    }

    public func rename(_ source: String, to target: String) throws(LogError) {
        guard Glibc.rename(path(source), path(target)) == 0 else { throw errnoText("rename", path(source)) }
    }

    public func syncDirectory() throws(LogError) {
        BlockingIOThreads.assertMayBlock("fsync \(directory)")
        do throws(AtomicFileError) {
            try AtomicFile.syncDirectory(directory)
        } catch {
            throw .storage(error.description)
        }
    }
}

// MARK: - Memory

/// A file held in memory (for `InMemoryLog` and tests).
public final class MemoryFile: LogFile, Sendable {
    private let bytes = Mutex<[UInt8]>([])

    public init() {}

    public func read(into buffer: inout ByteBuffer, count: Int, at offset: Int64) throws(LogError) -> Int {
        bytes.withLock { bytes in
            let start = min(Int(offset), bytes.count)
            let end = min(start + count, bytes.count)
            bytes.withUnsafeBytes { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
            return end - start
        }
    }

    public func write(_ parts: [UnsafeRawBufferPointer], at offset: Int64) throws(LogError) {
        bytes.withLock { bytes in
            var position = Int(offset)
            let end = position + parts.reduce(0) { $0 + $1.count }
            if bytes.count < end { bytes.append(contentsOf: repeatElement(0, count: end - bytes.count)) }
            bytes.withUnsafeMutableBytes { target in
                for part in parts where part.count > 0 {
                    (target.baseAddress! + position).copyMemory(from: part.baseAddress!, byteCount: part.count)
                    position += part.count
                }
            }
        }
    }

    public func truncate(to size: Int64) throws(LogError) {
        bytes.withLock { bytes in
            let size = Int(size)
            if size < bytes.count {
                bytes.removeSubrange(size...)
            } else {
                bytes.append(contentsOf: repeatElement(0, count: size - bytes.count))
            }
        }
    }

    public func size() throws(LogError) -> Int64 { bytes.withLock { Int64($0.count) } }

    public func sync() throws(LogError) {}
}

/// A directory held in memory.
public final class MemoryFileSystem: LogFileSystem, Sendable {
    private let files = Mutex<[String: MemoryFile]>([:])

    public init() {}

    public func createDirectoryIfNeeded() throws(LogError) {}
    public func list() throws(LogError) -> [String] { files.withLock { Array($0.keys) } }

    public func open(_ name: String) throws(LogError) -> any LogFile {
        files.withLock { files in
            if let file = files[name] { return file }
            let file = MemoryFile()
            files[name] = file
            return file
        }
    }

    public func exists(_ name: String) -> Bool { files.withLock { $0[name] != nil } }
    public func remove(_ name: String) throws(LogError) { _ = files.withLock { $0.removeValue(forKey: name) } }

    public func readSmallFile(_ name: String) throws(LogError) -> [UInt8]? {
        guard let file = files.withLock({ $0[name] }) else { return nil }
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        _ = try file.read(into: &buffer, count: Int(try file.size()), at: 0)
        return buffer.readBytes(length: buffer.readableBytes)
    }

    public func replaceAtomically(_ name: String, with contents: [UInt8]) throws(LogError) {
        let file = MemoryFile()
        try writeAll(contents, to: file)
        files.withLock { $0[name] = file }
    }

    public func rename(_ source: String, to target: String) throws(LogError) {
        let moved: Bool = files.withLock { files in
            guard let file = files.removeValue(forKey: source) else { return false }
            files[target] = file
            return true
        }
        if !moved { throw .storage("rename \(source): No such file or directory") }
    }

    public func syncDirectory() throws(LogError) {}
}

/// Writes `contents` at the start of `file` (a helper that keeps the typed error).
func writeAll(_ contents: [UInt8], to file: any LogFile) throws(LogError) {
    var failure: LogError?
    contents.withUnsafeBytes { raw in
        do throws(LogError) { try file.write([raw], at: 0) } catch { failure = error }
    }
    if let failure { throw failure }
}
