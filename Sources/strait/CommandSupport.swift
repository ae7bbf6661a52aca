import ArgumentParser
import Foundation
import Logging
import Replicator
import ServiceLifecycle

/// Log lines to stderr at `level`, for every command that runs something.
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// `--log-level` checked (for `validate()`): a usage mistake when it names no level.
func checkLogLevel(_ name: String) throws {
    guard Logger.Level(rawValue: name) != nil else { throw ValidationError("unknown --log-level '\(name)'") }
}

/// A runtime failure of a command: `Strait.main` prints it as "error: ..." on stderr and exits 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The text after "error: " for an error thrown by a command's `run()`.
func runtimeErrorMessage(_ error: any Error) -> String {
    switch error {
    case let error as ValidationError: error.message
    case let error as CLIError: error.description
    case let error as CocoaError: error.localizedDescription + (error.filePath.map { " (\($0))" } ?? "")
    case let error as any LocalizedError where error.errorDescription != nil: error.errorDescription ?? ""
    case let error as any CustomStringConvertible: error.description
    default: String(describing: error)
    }
}

/// The line `up` and `replicator` print for each link they run.
func announce(_ link: LinkService) {
    let line = "link \(link.link.source) → \(link.link.target): replicating (offsets: \(link.link.offsets.rawValue))\n"
    FileHandle.standardOutput.write(Data(line.utf8))
}

/// A service of a command's ServiceGroup that, when it ends or fails, shuts the others down
/// gracefully instead of cancelling them. A cancelled broker stops its requests wherever they
/// wait and leaves its logs unflushed; a graceful shutdown closes the listeners and connections,
/// then flushes and closes the logs. The failure is still what `run()` throws.
func drainingService(_ service: some Service) -> ServiceGroupConfiguration.ServiceConfiguration {
    .init(
        service: service, successTerminationBehavior: .gracefullyShutdownGroup,
        failureTerminationBehavior: .gracefullyShutdownGroup)
}
