import ArgumentParser
import Foundation
import Logging
import Replicator

/// Log lines to stderr at `level`, for every command that runs something.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// `--log-level` checked, then `bootstrapLogging`.
func bootstrapLogging(_ name: String) throws {
    guard let level = Logger.Level(rawValue: name) else { throw ValidationError("unknown --log-level '\(name)'") }
    bootstrapLogging(level: level)
}

/// The line `up` and `replicator` print for each link they run.
func announce(_ link: LinkService) {
    let line = "link \(link.link.source) → \(link.link.target): replicating (offsets: \(link.link.offsets.rawValue))\n"
    FileHandle.standardOutput.write(Data(line.utf8))
}
