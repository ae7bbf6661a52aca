#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one way Strait replaces a small file (broker metadata, partition checkpoints, the security
/// stores) so that a reader, or a crash, sees either the old or the new contents, never a mix:
/// write a temporary file beside it, fsync it, rename it over the target, fsync the directory.
public enum AtomicFile {
    /// Replaces `path` with `bytes`.
    /// - Parameters:
    ///   - temporaryPath: where the new contents are written first; in the same directory, so the
    ///     rename stays within one file system. Defaults to `path + ".tmp"`; writers that may run
    ///     in several processes at once pass a unique name.
    ///   - permissions: the mode of a newly created file (0o600 for files holding secrets).
    public static func write(
        _ bytes: [UInt8], to path: String, temporaryPath: String? = nil,
        permissions: mode_t = 0o644
    ) throws(AtomicFileError) {
        let temporary = temporaryPath ?? path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw AtomicFileError("open", temporary) }
        do throws(AtomicFileError) {
            try writeAll(bytes, to: fd, path: temporary)
            try sync(fd, path: temporary)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let failure = AtomicFileError("rename", temporary)
            unlink(temporary)
            throw failure
        }
        try syncDirectory(containing: path)
    }

    /// fsyncs the directory holding `path`, so that a rename or creation in it survives a crash.
    public static func syncDirectory(containing path: String) throws(AtomicFileError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        try syncDirectory(directory)
    }

    /// fsyncs `directory` itself.
    public static func syncDirectory(_ directory: String) throws(AtomicFileError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw AtomicFileError("open", directory) }
        defer { close(fd) }
        try sync(fd, path: directory)
    }

    private static func sync(_ fd: Int32, path: String) throws(AtomicFileError) {
        while fsync(fd) != 0 {
            if errno != EINTR { throw AtomicFileError("fsync", path) }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String) throws(AtomicFileError) {
        var failure: AtomicFileError?
        bytes.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = AtomicFileError("write", path)
                    return
                }
                written += n
            }
        }
        if let failure { throw failure }
    }
}

@inline(__always)
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(fd, buffer, count)
    #else
        Darwin.write(fd, buffer, count)
    #endif
}

/// A failed step of an atomic replace: the operation, the path and the system's reason, e.g.
/// "rename /data/strait-metadata.json.tmp: No space left on device".
public struct AtomicFileError: Error, Equatable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    /// Captures the calling thread's current `errno`.
    init(_ operation: String, _ path: String) {
        self.operation = operation
        self.path = path
        #if canImport(Glibc)
            self.errno = Glibc.errno
        #else
            self.errno = Darwin.errno
        #endif
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}
