import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TLS
import XCTest

/// Certificates made with the `openssl` command line once per test run.
enum TestCertificates {
    struct Files: Sendable {
        let directory: String
        func path(_ name: String) -> String { "\(directory)/\(name)" }
    }

    static let shared: Result<Files, any Error> = Result { try generate() }

    static func files() throws -> Files { try shared.get() }

    private static func generate() throws -> Files {
        let directory = NSTemporaryDirectory() + "strait-tls-tests-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = #"""
            set -e
            cd "$1"
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
            ca() { key "$1"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "$2"; }
            leaf() { # name subject ca serial [extfile]
                key "$1"
                openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
                if [ -n "$5" ]; then
                    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "$4" -days 2 -extfile "$5" -out "$1.pem" 2>/dev/null
                else
                    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "$4" -days 2 -out "$1.pem" 2>/dev/null
                fi
            }
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
            ca ca "/CN=Strait Test CA"
            ca untrusted-ca "/CN=Untrusted CA"
            leaf server "/CN=localhost" ca 1 server.ext
            leaf server-renewed "/O=Example/CN=localhost-renewed" ca 2 server.ext
            leaf alice "/O=Example/OU=eng/CN=alice" ca 3
            leaf mallory "/O=Example/OU=eng/CN=mallory" untrusted-ca 4
            # Expired (valid one day in 2020): `openssl x509 -req` cannot back-date, `openssl ca` can.
            mkdir -p ca-db && : > ca-db/index.txt && echo 10 > ca-db/serial
            printf '[ca]\ndefault_ca = t\n[t]\ndatabase = ca-db/index.txt\nnew_certs_dir = ca-db\nserial = ca-db/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n' > ca.cnf
            expired() { # name subject [extfile]
                key "$1"
                openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
                openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" -notext -preserveDN \
                    -startdate 20200101000000Z -enddate 20200102000000Z ${3:+-extfile "$3"} 2>/dev/null
            }
            expired expired-server "/CN=localhost" server.ext
            expired expired-alice "/O=Example/OU=eng/CN=expired-alice"
            """#
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "sh", directory]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestError(
                "openssl could not generate the test certificates (exit \(process.terminationStatus)); is the openssl command installed?"
            )
        }
        return Files(directory: directory)
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What a server saw, across its connections.
final class ServerRecord: Sendable {
    let handshakes = NIOLockedValueBox<[TLSHandshakeCompleted]>([])
    let errors = NIOLockedValueBox<[String]>([])
}

/// Server side: echoes plaintext back, records handshakes and errors.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let record: ServerRecord

    init(record: ServerRecord) { self.record = record }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted {
            record.handshakes.withLockedValue { $0.append(event) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        record.errors.withLockedValue { $0.append("\(error)") }
        context.close(promise: nil)
    }
}

/// Client side: collects `expected` bytes, then succeeds `received`.
final class CollectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let expected: Int
    let received: EventLoopPromise<ByteBuffer>
    let handshake: EventLoopPromise<TLSHandshakeCompleted>
    private var buffer = ByteBuffer()

    init(expected: Int, received: EventLoopPromise<ByteBuffer>, handshake: EventLoopPromise<TLSHandshakeCompleted>) {
        self.expected = expected
        self.received = received
        self.handshake = handshake
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        buffer.writeBuffer(&chunk)
        if buffer.readableBytes >= expected { received.succeed(buffer) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { handshake.succeed(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handshake.fail(error)
        received.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake.fail(TestError("closed before the handshake completed"))
        received.fail(TestError("closed after \(buffer.readableBytes) of \(expected) bytes"))
    }
}

/// Waits at most `seconds` for a future.
func waitBounded<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Int64 = 10) throws -> T {
    let promise = future.eventLoop.makePromise(of: T.self)
    future.cascade(to: promise)
    let timeout = future.eventLoop.scheduleTask(in: .seconds(seconds)) {
        promise.fail(TestError("timed out after \(seconds) s"))
    }
    defer { timeout.cancel() }
    return try promise.futureResult.wait()
}

/// Polls `condition` for at most `seconds`.
func waitUntil(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

struct Connection {
    let channel: any Channel
    let handshake: EventLoopFuture<TLSHandshakeCompleted>
    let received: EventLoopFuture<ByteBuffer>
}

func startEchoServer(group: any EventLoopGroup, context: TLSContext, record: ServerRecord) throws -> any Channel {
    try ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers(
                    OpenSSLHandler(tlsContext: context), EchoHandler(record: record))
            }
        }
        .bind(host: "127.0.0.1", port: 0).wait()
}

/// Connects, sends `payload` (held until the handshake completes) and collects its echo.
func connect(
    group: any EventLoopGroup, port: Int, context: TLSContext, serverHostname: String?, payload: ByteBuffer
) throws -> Connection {
    let loop = group.next()
    let handshake = loop.makePromise(of: TLSHandshakeCompleted.self)
    let received = loop.makePromise(of: ByteBuffer.self)
    let expected = payload.readableBytes
    let channel = try ClientBootstrap(group: loop)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers(
                    OpenSSLHandler(tlsContext: context, serverHostname: serverHostname),
                    CollectHandler(expected: expected, received: received, handshake: handshake))
            }
        }
        .connect(host: "127.0.0.1", port: port).wait()
    channel.writeAndFlush(payload, promise: nil)
    return Connection(channel: channel, handshake: handshake.futureResult, received: received.futureResult)
}
