import ArgumentParser
import Foundation
import KafkaClient
import Replicator
import Topology

/// How a command that talks to a cluster (`strait groups`) connects: Kafka's security protocols
/// with PEM files and SASL, or a topology site's bootstrap and `security:` section. Passwords
/// come from a file or an environment variable, never from the command line, and are never
/// printed. Both ways end in the mapping the replicator uses (`applySecurity`).
struct ClientSecurityOptions: ParsableArguments {
    @Option(
        name: .customLong("security-protocol"),
        help: "plaintext, ssl, sasl_plaintext or sasl_ssl (Kafka's security.protocol; any case).")
    var securityProtocol: String?
    @Option(
        name: .customLong("ca-file"),
        help: "PEM CA bundle to verify the brokers' certificates (default: the system's trust store).")
    var caFile: String?
    @Option(name: .customLong("cert-file"), help: "PEM client certificate (mutual TLS), with --key-file.")
    var certFile: String?
    @Option(name: .customLong("key-file"), help: "PEM private key of --cert-file.")
    var keyFile: String?
    @Option(name: .customLong("sasl-mechanism"), help: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")
    var saslMechanism: String?
    @Option(help: "SASL user name.")
    var username: String?
    @Option(name: .customLong("password-file"), help: "File whose first line is the SASL password.")
    var passwordFile: String?
    @Option(name: .customLong("password-env"), help: "Environment variable holding the SASL password.")
    var passwordEnv: String?
    @Option(help: "Topology file: connect to --site as the replicator does (its bootstrap and security: section).")
    var topology: String?
    @Option(help: "The topology site to connect to (with --topology).")
    var site: String?

    static let names = SecuritySettings.Names(
        securityProtocol: "--security-protocol", caFile: "--ca-file", certificateFile: "--cert-file",
        keyFile: "--key-file",
        saslMechanism: "--sasl-mechanism", username: "--username", passwordFile: "--password-file",
        passwordEnv: "--password-env")

    /// The security options given on the command line, by name (for "drop ..." messages).
    private var given: [String] {
        [
            ("--security-protocol", securityProtocol), ("--ca-file", caFile), ("--cert-file", certFile),
            ("--key-file", keyFile), ("--sasl-mechanism", saslMechanism), ("--username", username),
            ("--password-file", passwordFile), ("--password-env", passwordEnv)
        ]
        .compactMap { $0.1 == nil ? nil : $0.0 }
    }

    func validate() throws {
        if topology != nil || site != nil {
            guard topology != nil, site != nil else { throw ValidationError("--topology and --site go together") }
            guard given.isEmpty else {
                throw ValidationError(
                    "--topology takes the security settings from the site: drop \(given.joined(separator: ", "))")
            }
            return
        }
        for problem in try settings().problems(context: "the command line", names: Self.names) {
            throw ValidationError(problem)
        }
    }

    /// The settings as `SecuritySettings` (the topology file's model), unchecked.
    func settings() throws -> SecuritySettings {
        var settings = SecuritySettings()
        if let securityProtocol {
            guard let parsed = SecuritySettings.SecurityProtocol(rawValue: securityProtocol.lowercased()) else {
                let names = SecuritySettings.SecurityProtocol.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("--security-protocol must be one of \(names), not '\(securityProtocol)'")
            }
            settings.securityProtocol = parsed
        }
        settings.caFile = caFile
        settings.certificateFile = certFile
        settings.keyFile = keyFile
        if let saslMechanism {
            guard let parsed = SecuritySettings.SASLMechanism(rawValue: saslMechanism.uppercased()) else {
                let names = SecuritySettings.SASLMechanism.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("--sasl-mechanism must be one of \(names), not '\(saslMechanism)'")
            }
            settings.saslMechanism = parsed
        }
        settings.username = username
        switch (passwordFile, passwordEnv) {
        case let (file?, nil): settings.password = SecretReference(source: .file(file))
        case let (nil, variable?): settings.password = SecretReference(source: .environment(variable))
        case (.some, .some): throw ValidationError("give --password-file or --password-env, not both")
        case (nil, nil): break
        }
        return settings
    }

    /// The bootstrap list and the client configuration: from the topology site, or from
    /// `bootstrapServer` (default localhost:9092) and the options. Files are loaded and the
    /// password read now; a problem is a `CLIError` naming it.
    func clientConfiguration(bootstrapServer: String?) throws -> (String, KafkaClientConfiguration) {
        let (bootstrap, configuration) = try unchecked(bootstrapServer: bootstrapServer)
        if let problem = configuration.tls?.certificateValidityProblem {
            FileHandle.standardError.write(Data("warning: the client \(problem); brokers will refuse it\n".utf8))
        }
        return (bootstrap, configuration)
    }

    private func unchecked(bootstrapServer: String?) throws -> (String, KafkaClientConfiguration) {
        if let topology, let site {
            let loaded = try loadOrReport(topology)
            guard let chosen = loaded.site(named: site) else {
                throw CLIError(
                    "\(topology) has no site '\(site)' (sites: \(loaded.sites.map(\.name).joined(separator: ", ")))")
            }
            do {
                return (chosen.bootstrapServers.joined(separator: ","), try loaded.clientConfiguration(for: chosen))
            } catch {
                throw CLIError("\(error)")
            }
        }
        var configuration = KafkaClientConfiguration()
        do {
            try configuration.applySecurity(try settings())
        } catch {
            throw CLIError("\(error)")
        }
        return (bootstrapServer ?? "localhost:9092", configuration)
    }
}
