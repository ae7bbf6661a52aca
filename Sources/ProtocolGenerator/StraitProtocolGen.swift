import ArgumentParser
import Foundation

/// `strait-protocol-gen <schema-dir> <output-dir>`: reads Kafka's JSON message schemas and writes
/// one Swift file per selected schema, plus APIKey.swift.
@main
struct StraitProtocolGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strait-protocol-gen",
        abstract: "Generate Swift Kafka message types from Kafka's JSON schemas.")

    @Argument(help: "Directory holding Kafka's *.json message schemas.")
    var schemaDirectory: String

    @Argument(help: "Directory to write the generated Swift files into.")
    var outputDirectory: String

    @Option(help: "Directory holding Strait's own schemas (the Strait-only APIs in Selection.swift).")
    var straitSchemas: String?

    @Option(help: "Also write sample values for every message (used by the round-trip tests) to this file.")
    var testSamples: String?

    func run() throws {
        let schemaURL = URL(fileURLWithPath: schemaDirectory)
        func load(_ name: String, from directory: URL) throws -> MessageSchema {
            let fileName = name + ".json"
            let text = try String(contentsOf: directory.appendingPathComponent(fileName), encoding: .utf8)
            return try MessageSchema(fileName: fileName, json: text)
        }
        func load(_ name: String) throws -> MessageSchema { try load(name, from: schemaURL) }

        var apis = selectedAPIs.map { ($0, schemaURL) }
        if !selectedStraitAPIs.isEmpty {
            guard let straitSchemas else {
                throw GeneratorError.invalidSchema(
                    "--strait-schemas is required for \(selectedStraitAPIs.joined(separator: ", "))")
            }
            apis += selectedStraitAPIs.map { ($0, URL(fileURLWithPath: straitSchemas)) }
        }
        var schemas: [MessageSchema] = []
        for (api, directory) in apis {
            let request = try load(api + "Request", from: directory)
            let response = try load(api + "Response", from: directory)
            guard request.kind == .request, response.kind == .response, request.apiKey == response.apiKey else {
                throw GeneratorError.invalidSchema("\(api): request/response schemas do not match")
            }
            schemas += [request, response]
        }
        for data in selectedDataSchemas {
            schemas.append(try load(data))
        }

        let outputURL = URL(fileURLWithPath: outputDirectory)
        try FileManager.default.createDirectory(at: outputURL, withIntermediateDirectories: true)
        for schema in schemas {
            let source = MessageEmitter(schema: schema).emitFile()
            try write(source, to: outputURL.appendingPathComponent(schema.name + ".swift"))
        }
        try write(
            APIKeyEmitter.emit(requests: schemas.filter { $0.kind == .request }),
            to: outputURL.appendingPathComponent("APIKey.swift"))

        if let testSamples {
            try write(SampleEmitter.emit(schemas: schemas), to: URL(fileURLWithPath: testSamples))
        }
    }

    private func write(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}
