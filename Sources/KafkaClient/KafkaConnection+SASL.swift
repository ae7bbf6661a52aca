import KafkaProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Security

/// A completed SASL exchange.
struct SaslLogin: Sendable {
    /// SessionLifetimeMs of the broker's last SaslAuthenticate answer (v1+); 0: the session never
    /// ends (no lifetime, or SaslAuthenticate v0, which has no such field).
    var sessionLifetimeMs: Int64
    /// When the exchange's last SaslAuthenticate was handed to the channel. The session is
    /// measured from here: no later than the broker's own start of it (when it checked that
    /// token), so the client's idea of the session's end is never later than the broker's.
    var lastTokenSentAt: NIODeadline
}

/// KIP-368 bookkeeping of one connection (under `KafkaConnection.reauthentication`'s lock).
struct ReauthenticationState: Sendable {
    /// The lifetime the broker gave at the last (re-)authentication; nil: unlimited.
    var sessionLifetimeMs: Int64?
    /// When the next re-authentication begins.
    var nextAt: NIODeadline?
    var scheduled: Scheduled<Void>?
    var running: Task<Void, Never>?
    var completed = 0
    /// The channel closed: nothing more is scheduled.
    var closed = false
}

extension SaslAuthenticateResponse {
    /// Why the broker refused the token (its message, else the error code); nil: accepted.
    var refusal: String? {
        guard errorCode.isError else { return nil }
        return errorMessage ?? "SaslAuthenticate error \(errorCode)"
    }

    /// `refusal` of a response body at `version` (nil when accepted or not decodable).
    static func refusal(in body: ByteBuffer, version: Int16) -> String? {
        var body = body
        return (try? SaslAuthenticateResponse(from: &body, version: version))?.refusal
    }
}

// MARK: SASL login and KIP-368 re-authentication

extension KafkaConnection {
    /// How the reason starts when a re-authentication fails and closes the connection.
    static let reauthenticationFailurePrefix = "SASL re-authentication failed: "

    /// SaslHandshake v1 and SaslAuthenticate rounds until the broker accepts (or refuses) us.
    /// Used for the login when connecting and for each re-authentication on the connection
    /// (`authentication: true` lets the requests through a held `ReauthenticationGate`).
    static func authenticate(
        _ credentials: SaslCredentials, versions: BrokerAPIVersions, channel: any Channel,
        address: BrokerAddress, configuration: KafkaClientConfiguration,
        shared: NIOLockedValueBox<ConnectionShared>, timeout: Duration
    ) async throws -> SaslLogin {
        func fail(_ why: String) -> KafkaClientError { .authenticationFailed(address, reason: why) }
        guard versions[.saslHandshake]?.contains(1) == true, let authenticateRange = versions[.saslAuthenticate] else {
            throw fail("the broker does not offer SaslHandshake v1 and SaslAuthenticate")
        }
        let handshakeBody = try await sendRaw(
            SaslHandshakeRequest(mechanism: credentials.mechanism.rawValue), version: 1,
            channel: channel, address: address, configuration: configuration,
            shared: shared, timeout: timeout, authentication: true)
        var reader = handshakeBody
        let handshake = try SaslHandshakeResponse(from: &reader, version: 1)
        guard !handshake.errorCode.isError else {
            let offered =
                handshake.mechanisms.isEmpty
                ? "" : "; the broker offers \(handshake.mechanisms.joined(separator: ", "))"
            throw fail(
                "SaslHandshake for mechanism \(credentials.mechanism.rawValue) refused with \(handshake.errorCode)\(offered)"
            )
        }
        let version = min(authenticateRange.upperBound, 2)
        var session = SaslClientSession(
            mechanism: credentials.mechanism, username: credentials.username, password: credentials.password)
        var message: [UInt8]? = session.initialMessage()
        var rounds = 0
        var sentAt = NIODeadline.now()
        var lifetimeMs: Int64 = 0
        while let outgoing = message {
            rounds += 1
            sentAt = NIODeadline.now()
            let body = try await sendRaw(
                SaslAuthenticateRequest(authBytes: outgoing), version: version, channel: channel,
                address: address, configuration: configuration, shared: shared,
                timeout: timeout, authentication: true)
            var reader = body
            let answer = try SaslAuthenticateResponse(from: &reader, version: version)
            if let refusal = answer.refusal { throw fail(refusal) }
            lifetimeMs = answer.sessionLifetimeMs
            do {
                if rounds == 1 && credentials.mechanism != .plain {
                    message = try session.respond(to: answer.authBytes)
                } else {
                    try session.finish(with: answer.authBytes)
                    message = nil
                }
            } catch {
                throw fail("\(error)")
            }
        }
        return SaslLogin(sessionLifetimeMs: max(0, lifetimeMs), lastTokenSentAt: sentAt)
    }

    /// When to re-authenticate, counted from the last token of the previous exchange: a random
    /// `fraction` of the session lifetime (Java's client uses 85-95 %, the jitter keeps many
    /// connections from renewing at once), but not sooner than `minimumInterval` (Kafka refuses
    /// a re-authentication within a second of the previous one).
    static func reauthenticationDelay(lifetimeMs: Int64, fraction: Double, minimumInterval: Duration) -> TimeAmount {
        let minimumMs = Double(minimumInterval.nanosecondsClamped) / 1_000_000
        let delayMs = max(Double(lifetimeMs) * fraction, minimumMs)
        // Lifetimes up to Int64.max ms are allowed on the wire; a delay of centuries is "never".
        return .nanoseconds(Int64(min(delayMs * 1_000_000, 4e18)))
    }

    /// The broker's session lifetime from the last (re-)authentication; nil when sessions do not
    /// end (no SASL, no lifetime, or SaslAuthenticate v0).
    public var sessionLifetime: Duration? {
        reauthentication.withLockedValue { $0.sessionLifetimeMs.map { .milliseconds($0) } }
    }

    /// How many times this connection has re-authenticated (KIP-368).
    public var reauthenticationCount: Int {
        reauthentication.withLockedValue { $0.completed }
    }

    /// After the login: stop re-authenticating when the channel closes, and plan the first renewal.
    func startSession(_ login: SaslLogin) {
        channel.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            let (scheduled, running) = self.reauthentication.withLockedValue { state in
                state.closed = true
                defer { state.scheduled = nil; state.running = nil; state.nextAt = nil }
                return (state.scheduled, state.running)
            }
            scheduled?.cancel()
            running?.cancel()
        }
        scheduleReauthentication(after: login)
    }

    private func scheduleReauthentication(after login: SaslLogin) {
        let fraction = Double.random(in: configuration.reauthenticationWindow)
        reauthentication.withLockedValue { state in
            state.sessionLifetimeMs = login.sessionLifetimeMs > 0 ? login.sessionLifetimeMs : nil
            state.nextAt = nil
            state.scheduled = nil
            guard login.sessionLifetimeMs > 0, !state.closed else { return }
            let at =
                login.lastTokenSentAt
                + Self.reauthenticationDelay(
                    lifetimeMs: login.sessionLifetimeMs, fraction: fraction,
                    minimumInterval: configuration.minimumReauthenticationInterval)
            state.nextAt = at
            state.scheduled = channel.eventLoop.scheduleTask(deadline: at) { [weak self] in
                self?.beginReauthentication()
            }
        }
    }

    private func beginReauthentication() {
        let task = Task { await self.reauthenticate() }
        let closed = reauthentication.withLockedValue { state in
            if !state.closed { state.running = task }
            return state.closed
        }
        if closed { task.cancel() }
    }

    /// One KIP-368 re-authentication on this connection: hold new requests, run the SASL exchange
    /// again (the requests already in flight are answered first, the broker serving one request
    /// at a time), then let the held requests go, in order. A failure closes the connection with
    /// a `connectionClosed` reason that says so; the cluster then reconnects as after any drop.
    func reauthenticate() async {
        guard let credentials = configuration.sasl else { return }
        do {
            try await channel.triggerUserOutboundEvent(ReauthenticationGate.hold)
        } catch {
            return  // closed meanwhile
        }
        do {
            // The requests ahead of the handshake may take a while (a fetch waiting MaxWaitMs):
            // each round gets the request timeout.
            let login = try await Self.authenticate(
                credentials, versions: brokerVersions, channel: channel, address: address,
                configuration: configuration, shared: shared,
                timeout: configuration.requestTimeout)
            let count = reauthentication.withLockedValue { state in
                state.completed += 1
                state.running = nil
                return state.completed
            }
            logger.debug(
                "re-authenticated",
                metadata: [
                    "mechanism": "\(credentials.mechanism.rawValue)",
                    "session-lifetime-ms": "\(login.sessionLifetimeMs)", "count": "\(count)"
                ])
            scheduleReauthentication(after: login)
            try? await channel.triggerUserOutboundEvent(ReauthenticationGate.release)
        } catch {
            let why: String
            if case let .authenticationFailed(_, reason)? = error as? KafkaClientError {
                why = reason
            } else {
                why = describe(error)
            }
            let reason = "\(Self.reauthenticationFailurePrefix)\(why)"
            if !Task.isCancelled {
                logger.warning("closing the connection", metadata: ["reason": "\(reason)"])
            }
            reauthentication.withLockedValue { $0.running = nil }
            try? await channel.triggerUserOutboundEvent(ReauthenticationGate.fail(reason: reason))
        }
    }
}
