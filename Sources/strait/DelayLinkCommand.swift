import ArgumentParser
import DelayLink
import Foundation
import Logging
import NIOCore

/// `strait delay-link`: a TCP relay adding a fixed one-way delay, for WAN tests and benchmarks.
struct DelayLinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delay-link",
        abstract:
            "Relay TCP connections to a target, delaying every byte by a fixed time in each direction (a WAN stand-in)."
    )

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String

    @Option(help: "Address to relay to, HOST:PORT.")
    var target: String

    @Option(name: .customLong("delay-ms"), help: "One-way delay in milliseconds (the round trip adds twice this).")
    var delayMs: Int

    func validate() throws {
        guard delayMs >= 0 else { throw ValidationError("--delay-ms must be 0 or more") }
        _ = try Self.split(listen, option: "--listen")
        _ = try Self.split(target, option: "--target")
    }

    static func split(_ address: String, option: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port), colon != address.startIndex
        else {
            throw ValidationError("\(option) must be HOST:PORT, got '\(address)'")
        }
        return (String(address[..<colon]), port)
    }

    func run() async throws {
        let (listenHost, listenPort) = try Self.split(listen, option: "--listen")
        let (targetHost, targetPort) = try Self.split(target, option: "--target")
        let logger = Logger(label: "strait.delay-link")
        let link = DelayLink(
            targetHost: targetHost, targetPort: targetPort, delay: .milliseconds(Int64(delayMs)), logger: logger)
        let channel = try await link.bind(host: listenHost, port: listenPort)
        // Written unbuffered: scripts wait for this line.
        let line =
            "strait delay-link listening on \(listenHost):\(channel.localAddress?.port ?? listenPort), relaying to \(target) with \(delayMs) ms one-way delay\n"
        FileHandle.standardOutput.write(Data(line.utf8))
        try await channel.closeFuture.get()
    }
}
