import ArgumentParser
import BrokerCore
import Foundation
import Security

/// `strait users`: SASL credentials in a broker's data directory, for bootstrapping users before
/// the broker starts. A running broker is changed through the Kafka APIs instead
/// (AlterUserScramCredentials, e.g. `kafka-configs --alter --add-config SCRAM-SHA-512=[password=...]`
/// or an AdminClient); it does not re-read these files while running.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Manage SASL users (SCRAM and PLAIN credentials) in a broker's data directory.",
        subcommands: [Add.self, Remove.self, List.self])

    struct Location: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: "The broker's data directory.") var dataDir: String

        func authentication() throws -> BrokerAuthentication {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            return try BrokerAuthentication.open(
                directory: URL(fileURLWithPath: dataDir), mechanisms: SaslMechanism.allCases)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user, or set its password.")
        @Argument(help: "User name.") var user: String
        @Option(help: "SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN.") var mechanism: String = "SCRAM-SHA-512"
        @Option(name: .customLong("password-env"), help: "Environment variable holding the password.") var passwordEnv:
            String?
        @Option(name: .customLong("password-file"), help: "File holding the password (first line).") var passwordFile:
            String?
        @Option(help: "SCRAM iterations (4096 to 16384).") var iterations: Int = 8192
        @OptionGroup var location: Location

        func validate() throws {
            guard (passwordEnv == nil) != (passwordFile == nil) else {
                throw ValidationError(
                    "give the password with exactly one of --password-env or --password-file "
                        + "(never on the command line)")
            }
            _ = try parseMechanism(mechanism)
        }

        func run() async throws {
            let password: Secret
            if let name = passwordEnv {
                guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                    throw CLIError("environment variable \(name) is not set")
                }
                password = Secret(value)
            } else {
                let path = passwordFile ?? ""
                guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                    let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !line.isEmpty
                else {
                    throw CLIError("cannot read a password from \(path)")
                }
                password = Secret(String(line))
            }
            let chosen = try parseMechanism(mechanism)
            let stores = try location.authentication()
            switch chosen {
            case .plain:
                try stores.plain.setPassword(user: user, password: password, iterations: max(iterations, 4096))
            case .scramSha256, .scramSha512:
                let scram: ScramMechanism = chosen == .scramSha256 ? .sha256 : .sha512
                let credential = ScramCredential(mechanism: scram, password: password, iterations: iterations)
                try stores.scram.upsert(user: user, mechanism: scram, credential: credential)
            }
            print("user \(user): \(chosen.rawValue) credential stored in \(location.dataDir)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user's credential.")
        @Argument(help: "User name.") var user: String
        @Option(help: "SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN.") var mechanism: String = "SCRAM-SHA-512"
        @OptionGroup var location: Location

        func validate() throws { _ = try parseMechanism(mechanism) }

        func run() async throws {
            let chosen = try parseMechanism(mechanism)
            let stores = try location.authentication()
            let removed: Bool
            switch chosen {
            case .plain: removed = try stores.plain.remove(user: user)
            case .scramSha256: removed = try stores.scram.delete(user: user, mechanism: .sha256)
            case .scramSha512: removed = try stores.scram.delete(user: user, mechanism: .sha512)
            }
            guard removed else { throw CLIError("user \(user) has no \(mechanism) credential") }
            print("user \(user): \(mechanism) credential removed")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their mechanisms (never passwords).")
        @OptionGroup var location: Location

        func run() async throws {
            let stores = try location.authentication()
            for (user, credentials) in stores.scram.allCredentials().sorted(by: { $0.key < $1.key }) {
                for info in credentials {
                    print(
                        "\(user)  \(info.mechanism == .sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512")  iterations \(info.iterations)"
                    )
                }
            }
            for user in stores.plain.userNames { print("\(user)  PLAIN") }
        }
    }
}

/// `--mechanism`, any case.
private func parseMechanism(_ name: String) throws -> SaslMechanism {
    guard let mechanism = SaslMechanism(rawValue: name.uppercased()) else {
        throw ValidationError("--mechanism must be SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN")
    }
    return mechanism
}
