import Foundation

/// An inclusive version range from a schema ("0+", "3-7", "5", "none").
struct VersionRange: Equatable {
    var lowest: Int
    var highest: Int  // Int(Int16.max) for an open range

    static let none = VersionRange(lowest: 1, highest: 0)
    static let all = VersionRange(lowest: 0, highest: Int(Int16.max))

    var isEmpty: Bool { lowest > highest }

    init(lowest: Int, highest: Int) {
        self.lowest = lowest
        self.highest = highest
    }

    init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "none" {
            self = .none
        } else if trimmed.hasSuffix("+"), let low = Int(trimmed.dropLast()) {
            self.init(lowest: low, highest: Int(Int16.max))
        } else if let dash = trimmed.firstIndex(of: "-"),
            let low = Int(trimmed[..<dash]), let high = Int(trimmed[trimmed.index(after: dash)...])
        {
            self.init(lowest: low, highest: high)
        } else if let single = Int(trimmed) {
            self.init(lowest: single, highest: single)
        } else {
            throw GeneratorError.invalidSchema("bad version range '\(text)'")
        }
    }

    func intersection(_ other: VersionRange) -> VersionRange {
        let result = VersionRange(lowest: max(lowest, other.lowest), highest: min(highest, other.highest))
        return result.isEmpty ? .none : result
    }

    func contains(_ other: VersionRange) -> Bool {
        other.isEmpty || (lowest <= other.lowest && other.highest <= highest)
    }

    var swiftRange: String { "\(lowest)...\(highest)" }
}

enum GeneratorError: Error, CustomStringConvertible {
    case invalidSchema(String)

    var description: String {
        switch self {
        case .invalidSchema(let message): return message
        }
    }
}

// MARK: Raw JSON model

struct RawSchema: Decodable {
    var apiKey: Int?
    var type: String
    var name: String
    var validVersions: String
    var flexibleVersions: String
    var fields: [RawField]
    var commonStructs: [RawStruct]?
}

struct RawStruct: Decodable {
    var name: String
    var versions: String
    var fields: [RawField]
}

struct RawField: Decodable {
    var name: String
    var type: String
    var versions: String
    var nullableVersions: String?
    var taggedVersions: String?
    var rawTag: RawDefault?
    var defaultValue: RawDefault?
    var about: String?
    var fields: [RawField]?

    enum CodingKeys: String, CodingKey {
        case name, type, versions, nullableVersions, taggedVersions, about, fields
        case rawTag = "tag"
        case defaultValue = "default"
    }

    /// Tags are numbers, though a few schemas write them as strings.
    var tag: Int? { rawTag.flatMap { Int($0.text) } }
}

/// A schema default: written as a string ("-1", "null", "0x7fffffff"), a number or a boolean.
struct RawDefault: Decodable {
    var text: String

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            text = string
        } else if let bool = try? container.decode(Bool.self) {
            text = bool ? "true" : "false"
        } else if let int = try? container.decode(Int64.self) {
            text = String(int)
        } else {
            text = String(try container.decode(Double.self))
        }
    }
}

/// Removes `//` comments (outside string literals) so the schema parses as JSON.
func stripJSONComments(_ text: String) -> String {
    var output = [UInt8]()
    let bytes = Array(text.utf8)
    output.reserveCapacity(bytes.count)
    var index = 0
    var inString = false
    while index < bytes.count {
        let byte = bytes[index]
        if inString {
            output.append(byte)
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                output.append(bytes[index + 1])
                index += 2
                continue
            }
            if byte == UInt8(ascii: "\"") { inString = false }
            index += 1
        } else if byte == UInt8(ascii: "\"") {
            inString = true
            output.append(byte)
            index += 1
        } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
            while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
        } else {
            output.append(byte)
            index += 1
        }
    }
    return String(decoding: output, as: UTF8.self)
}

// MARK: Resolved model

enum PrimitiveType: String {
    case int8, int16, int32, int64, uint16, uint32, float64, bool, string, bytes, records, uuid
}

indirect enum FieldType {
    case primitive(PrimitiveType)
    case array(FieldType)
    case structure(String)

    init(parsing text: String) throws {
        if text.hasPrefix("[]") {
            self = .array(try FieldType(parsing: String(text.dropFirst(2))))
        } else if let primitive = PrimitiveType(rawValue: text) {
            self = .primitive(primitive)
        } else if let first = text.first, first.isUppercase {
            self = .structure(text)
        } else {
            throw GeneratorError.invalidSchema("unknown type '\(text)'")
        }
    }
}

struct Field {
    var name: String
    var type: FieldType
    /// Versions in which the field is present, clipped to the message's valid versions.
    var versions: VersionRange
    /// Versions in which the field may be null (clipped to `versions`).
    var nullableVersions: VersionRange
    /// Versions in which the field is sent as a tagged field (clipped to `versions`).
    var taggedVersions: VersionRange
    var tag: Int?
    var defaultText: String?
    var about: String?

    /// Versions in which the field is sent inline (present but not tagged).
    var inlineVersions: VersionRange {
        if taggedVersions.isEmpty { return versions }
        // Kafka schemas tag a field either in all its versions or from some version onward.
        if taggedVersions.lowest <= versions.lowest { return .none }
        return VersionRange(lowest: versions.lowest, highest: taggedVersions.lowest - 1)
    }
}

struct StructDef {
    var name: String
    var about: String?
    var fields: [Field]
}

struct MessageSchema {
    enum Kind: String { case request, response, data, header }

    var fileName: String
    var name: String
    var kind: Kind
    var apiKey: Int?
    var validVersions: VersionRange
    var flexibleVersions: VersionRange
    var fields: [Field]
    /// Every nested struct type, in order of first appearance, then the common structs.
    var structs: [StructDef]

    init(fileName: String, json: String) throws {
        let raw = try JSONDecoder().decode(RawSchema.self, from: Data(stripJSONComments(json).utf8))
        guard let kind = Kind(rawValue: raw.type) else {
            throw GeneratorError.invalidSchema("\(fileName): unknown message type \(raw.type)")
        }
        self.fileName = fileName
        self.name = raw.name
        self.kind = kind
        self.apiKey = raw.apiKey
        let valid = try VersionRange(parsing: raw.validVersions)
        self.validVersions = valid
        self.flexibleVersions = try VersionRange(parsing: raw.flexibleVersions).intersection(valid)
        var collected: [StructDef] = []
        var seen = Set<String>()

        func resolve(_ rawFields: [RawField]) throws -> [Field] {
            try rawFields.map { rawField in
                let type = try FieldType(parsing: rawField.type)
                let versions = try VersionRange(parsing: rawField.versions).intersection(valid)
                let nullable = try VersionRange(parsing: rawField.nullableVersions ?? "none").intersection(versions)
                let tagged = try VersionRange(parsing: rawField.taggedVersions ?? "none").intersection(versions)
                if !tagged.isEmpty, tagged.highest != versions.highest {
                    throw GeneratorError.invalidSchema(
                        "\(fileName): \(rawField.name) is tagged in a middle version range")
                }
                if let nested = rawField.fields {
                    var structName = rawField.type
                    if structName.hasPrefix("[]") { structName.removeFirst(2) }
                    guard !seen.contains(structName) else {
                        throw GeneratorError.invalidSchema("\(fileName): struct \(structName) defined twice")
                    }
                    seen.insert(structName)
                    let index = collected.count
                    collected.append(StructDef(name: structName, about: rawField.about, fields: []))
                    collected[index].fields = try resolve(nested)
                }
                return Field(
                    name: rawField.name, type: type, versions: versions, nullableVersions: nullable,
                    taggedVersions: tagged, tag: rawField.tag, defaultText: rawField.defaultValue?.text,
                    about: rawField.about)
            }
        }
        self.fields = try resolve(raw.fields)
        for common in raw.commonStructs ?? [] {
            guard !seen.contains(common.name) else {
                throw GeneratorError.invalidSchema("\(fileName): struct \(common.name) defined twice")
            }
            seen.insert(common.name)
            let index = collected.count
            collected.append(StructDef(name: common.name, about: nil, fields: []))
            collected[index].fields = try resolve(common.fields)
        }
        self.structs = collected
        // Every referenced struct type must be defined.
        func check(_ type: FieldType) throws {
            switch type {
            case .primitive: return
            case .array(let element): try check(element)
            case .structure(let name):
                guard seen.contains(name) else {
                    throw GeneratorError.invalidSchema("\(fileName): unknown struct type \(name)")
                }
            }
        }
        for field in fields { try check(field.type) }
        for nested in structs { for field in nested.fields { try check(field.type) } }
    }
}
