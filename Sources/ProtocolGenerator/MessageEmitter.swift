/// Emits the Swift source for one message schema: a top-level struct with its nested struct
/// types, each with stored properties, a memberwise init, a decoder and an encoder.
struct MessageEmitter {
    let schema: MessageSchema

    private var valid: VersionRange { schema.validVersions }

    // MARK: Versions

    /// A Swift condition on `version` that holds exactly for `range` within the valid versions,
    /// or nil when it holds for every valid version. `range` must not be empty.
    func condition(_ range: VersionRange) -> String? {
        let needsLow = range.lowest > valid.lowest
        let needsHigh = range.highest < valid.highest
        switch (needsLow, needsHigh) {
        case (false, false): return nil
        case (true, false): return "version >= \(range.lowest)"
        case (false, true): return "version <= \(range.highest)"
        case (true, true):
            return range.lowest == range.highest
                ? "version == \(range.lowest)" : "version >= \(range.lowest) && version <= \(range.highest)"
        }
    }

    /// The expression for "this version is flexible": a literal when it is the same for every
    /// valid version, otherwise the local `flexible`.
    var flexibleExpression: String {
        if schema.flexibleVersions.isEmpty { return "false" }
        return condition(schema.flexibleVersions) == nil ? "true" : "flexible"
    }

    var flexibleDeclaration: String? {
        guard !schema.flexibleVersions.isEmpty, let condition = condition(schema.flexibleVersions) else { return nil }
        return "let flexible = \(condition)"
    }

    // MARK: Types and defaults

    func baseType(_ type: FieldType) -> String {
        switch type {
        case .primitive(let primitive):
            switch primitive {
            case .int8: return "Int8"
            case .int16: return "Int16"
            case .int32: return "Int32"
            case .int64: return "Int64"
            case .uint16: return "UInt16"
            case .uint32: return "UInt32"
            case .float64: return "Double"
            case .bool: return "Bool"
            case .string: return "String"
            case .bytes: return "[UInt8]"
            case .records: return "ByteBuffer"
            case .uuid: return "KafkaUUID"
            }
        case .array(let element): return "[\(baseType(element))]"
        case .structure(let name): return name
        }
    }

    func isRecords(_ field: Field) -> Bool {
        if case .primitive(.records) = field.type { return true }
        return false
    }

    func isOptional(_ field: Field) -> Bool {
        isRecords(field) || !field.nullableVersions.isEmpty
    }

    /// An INT16 field whose name ends in "ErrorCode" carries a Kafka error code: it is typed
    /// `KafkaErrorCode` (the same two bytes on the wire), so handlers and clients pass the typed
    /// code instead of converting through `rawValue`.
    func isErrorCode(_ field: Field) -> Bool {
        guard case .primitive(.int16) = field.type else { return false }
        return field.name.hasSuffix("ErrorCode")
    }

    func swiftType(_ field: Field) -> String {
        if isErrorCode(field) { return "KafkaErrorCode" }
        return baseType(field.type) + (isOptional(field) ? "?" : "")
    }

    func defaultExpression(_ field: Field) -> String {
        if isRecords(field) { return "nil" }
        if isOptional(field), field.defaultText == "null" { return "nil" }
        switch field.type {
        case .primitive(let primitive):
            switch primitive {
            case .int8, .int16, .int32, .int64, .uint16, .uint32:
                return integerLiteral(field.defaultText)
            case .float64:
                return field.defaultText.flatMap { Double($0) }.map { String($0) } ?? "0"
            case .bool:
                return field.defaultText == "true" ? "true" : "false"
            case .string:
                if let text = field.defaultText, text != "null" { return SwiftNames.stringLiteral(text) }
                return "\"\""
            case .bytes: return "[]"
            case .records: return "nil"
            case .uuid: return ".zero"
            }
        case .array: return "[]"
        case .structure(let name): return "\(name)()"
        }
    }

    private func integerLiteral(_ text: String?) -> String {
        guard let text, !text.isEmpty else { return "0" }
        let lower = text.lowercased()
        if lower.hasPrefix("0x"), let value = Int64(lower.dropFirst(2), radix: 16) { return String(value) }
        if lower.hasPrefix("-0x"), let value = Int64(lower.dropFirst(3), radix: 16) { return String(-value) }
        if let value = Int64(text) { return String(value) }
        return "0"
    }

    /// Whether the generated field differs from its default (used to decide whether a tagged
    /// field is written).
    func differsFromDefault(_ field: Field) -> String {
        let property = "self." + SwiftNames.property(field.name)
        if case .array = field.type, !isOptional(field) { return "!\(property).isEmpty" }
        return "\(property) != \(defaultExpression(field))"
    }

    // MARK: Decoding

    /// An expression (with `try` where needed) that reads one value of `type` from `buffer`.
    func decodeExpression(_ type: FieldType, nullable: Bool, buffer: String, compact: String, what: String) -> String {
        let whatLiteral = SwiftNames.stringLiteral(what)
        switch type {
        case .primitive(let primitive):
            switch primitive {
            case .int8: return "try \(buffer).readKafkaInt8(what: \(whatLiteral))"
            case .int16: return "try \(buffer).readKafkaInt16(what: \(whatLiteral))"
            case .int32: return "try \(buffer).readKafkaInt32(what: \(whatLiteral))"
            case .int64: return "try \(buffer).readKafkaInt64(what: \(whatLiteral))"
            case .uint16: return "try \(buffer).readKafkaUInt16(what: \(whatLiteral))"
            case .uint32: return "try \(buffer).readKafkaUInt32(what: \(whatLiteral))"
            case .float64: return "try \(buffer).readKafkaFloat64(what: \(whatLiteral))"
            case .bool: return "try \(buffer).readKafkaBool(what: \(whatLiteral))"
            case .uuid: return "try \(buffer).readKafkaUUID(what: \(whatLiteral))"
            case .string:
                let method = nullable ? "readKafkaNullableString" : "readKafkaString"
                return "try \(buffer).\(method)(compact: \(compact), what: \(whatLiteral))"
            case .bytes:
                let method = nullable ? "readKafkaNullableBytes" : "readKafkaBytes"
                return "try \(buffer).\(method)(compact: \(compact), what: \(whatLiteral))"
            case .records:
                return "try \(buffer).readKafkaRecords(compact: \(compact), what: \(whatLiteral))"
            }
        case .structure(let name):
            if nullable {
                // A nullable struct is preceded by an INT8 marker: -1 for null, 1 for present.
                return
                    "try \(buffer).readKafkaInt8(what: \(whatLiteral)) < 0 ? nil : \(name)(from: &\(buffer), version: version)"
            }
            return "try \(name)(from: &\(buffer), version: version)"
        case .array(let element):
            let method = nullable ? "readKafkaNullableArray" : "readKafkaArray"
            let elementExpression = decodeExpression(
                element, nullable: false, buffer: "$0", compact: compact, what: what + "[]")
            return "try \(buffer).\(method)(compact: \(compact), what: \(whatLiteral)) { \(elementExpression) }"
        }
    }

    /// Statements assigning `field` from `buffer`, for versions in `range` (already guarded).
    func decodeAssignment(_ field: Field, in range: VersionRange, structName: String, buffer: String, compact: String)
        -> [String]
    {
        let property = "self." + SwiftNames.property(field.name)
        let what = "\(structName).\(field.name)"
        if isErrorCode(field) {
            let expression = decodeExpression(field.type, nullable: false, buffer: buffer, compact: compact, what: what)
            return ["\(property) = KafkaErrorCode(rawValue: \(expression))"]
        }
        let nullable = field.nullableVersions.intersection(range)
        if nullable.isEmpty || nullable == range {
            let expression = decodeExpression(
                field.type, nullable: !nullable.isEmpty, buffer: buffer, compact: compact, what: what)
            return ["\(property) = \(expression)"]
        }
        let nullableCondition = condition(nullable) ?? "true"
        return [
            "if \(nullableCondition) {",
            "    \(property) = \(decodeExpression(field.type, nullable: true, buffer: buffer, compact: compact, what: what))",
            "} else {",
            "    \(property) = \(decodeExpression(field.type, nullable: false, buffer: buffer, compact: compact, what: what))",
            "}"
        ]
    }

    // MARK: Encoding

    enum ValueMode {
        /// The value is not optional.
        case plain
        /// The value is optional and null may be written.
        case nullable
        /// The value is optional but this version cannot express null: nil is written as the
        /// empty value.
        case emptyIfNil
    }

    /// A statement writing `value` of `type` into `buffer`, and whether it can throw.
    func encodeStatement(
        _ type: FieldType, value: String, mode: ValueMode, buffer: String, compact: String, what: String
    ) -> String {
        let whatLiteral = SwiftNames.stringLiteral(what)
        switch type {
        case .primitive(let primitive):
            switch primitive {
            case .int8: return "\(buffer).writeKafkaInt8(\(value))"
            case .int16: return "\(buffer).writeKafkaInt16(\(value))"
            case .int32: return "\(buffer).writeKafkaInt32(\(value))"
            case .int64: return "\(buffer).writeKafkaInt64(\(value))"
            case .uint16: return "\(buffer).writeKafkaUInt16(\(value))"
            case .uint32: return "\(buffer).writeKafkaUInt32(\(value))"
            case .float64: return "\(buffer).writeKafkaFloat64(\(value))"
            case .bool: return "\(buffer).writeKafkaBool(\(value))"
            case .uuid: return "\(buffer).writeKafkaUUID(\(value))"
            case .string:
                switch mode {
                case .plain:
                    return "try \(buffer).writeKafkaString(\(value), compact: \(compact), what: \(whatLiteral))"
                case .nullable:
                    return "try \(buffer).writeKafkaNullableString(\(value), compact: \(compact), what: \(whatLiteral))"
                case .emptyIfNil:
                    return "try \(buffer).writeKafkaString(\(value) ?? \"\", compact: \(compact), what: \(whatLiteral))"
                }
            case .bytes:
                switch mode {
                case .plain: return "try \(buffer).writeKafkaBytes(\(value), compact: \(compact), what: \(whatLiteral))"
                case .nullable:
                    return "try \(buffer).writeKafkaNullableBytes(\(value), compact: \(compact), what: \(whatLiteral))"
                case .emptyIfNil:
                    return "try \(buffer).writeKafkaBytes(\(value) ?? [], compact: \(compact), what: \(whatLiteral))"
                }
            case .records:
                return "try \(buffer).writeKafkaRecords(\(value), compact: \(compact), what: \(whatLiteral))"
            }
        case .structure(let name):
            switch mode {
            case .plain:
                return "try \(value).encode(into: &\(buffer), version: version)"
            case .nullable:
                return "try \(buffer).writeKafkaNullableStruct(\(value)) { try $1.encode(into: &$0, version: version) }"
            case .emptyIfNil:
                return "try (\(value) ?? \(name)()).encode(into: &\(buffer), version: version)"
            }
        case .array(let element):
            let elementStatement = encodeStatement(
                element, value: "$1", mode: .plain, buffer: "$0", compact: compact, what: what + "[]")
            switch mode {
            case .plain:
                return
                    "try \(buffer).writeKafkaArray(\(value), compact: \(compact), what: \(whatLiteral)) { \(elementStatement) }"
            case .nullable:
                return
                    "try \(buffer).writeKafkaNullableArray(\(value), compact: \(compact), what: \(whatLiteral)) { \(elementStatement) }"
            case .emptyIfNil:
                return
                    "try \(buffer).writeKafkaArray(\(value) ?? [], compact: \(compact), what: \(whatLiteral)) { \(elementStatement) }"
            }
        }
    }

    /// Statements writing `field` into `buffer`, for versions in `range` (already guarded).
    func encodeStatements(_ field: Field, in range: VersionRange, structName: String, buffer: String, compact: String)
        -> [String]
    {
        let property = "self." + SwiftNames.property(field.name)
        let what = "\(structName).\(field.name)"
        if isErrorCode(field) {
            return [
                encodeStatement(
                    field.type, value: property + ".rawValue", mode: .plain, buffer: buffer, compact: compact,
                    what: what)
            ]
        }
        if isRecords(field) {
            return [
                encodeStatement(
                    field.type, value: property, mode: .nullable, buffer: buffer, compact: compact, what: what)
            ]
        }
        guard isOptional(field) else {
            return [
                encodeStatement(field.type, value: property, mode: .plain, buffer: buffer, compact: compact, what: what)
            ]
        }
        let nullable = field.nullableVersions.intersection(range)
        if nullable == range {
            return [
                encodeStatement(
                    field.type, value: property, mode: .nullable, buffer: buffer, compact: compact, what: what)
            ]
        }
        if nullable.isEmpty {
            return [
                encodeStatement(
                    field.type, value: property, mode: .emptyIfNil, buffer: buffer, compact: compact, what: what)
            ]
        }
        let nullableCondition = condition(nullable) ?? "true"
        return [
            "if \(nullableCondition) {",
            "    "
                + encodeStatement(
                    field.type, value: property, mode: .nullable, buffer: buffer, compact: compact, what: what),
            "} else {",
            "    "
                + encodeStatement(
                    field.type, value: property, mode: .emptyIfNil, buffer: buffer, compact: compact, what: what),
            "}"
        ]
    }

    // MARK: Structs

    func emitFile() -> String {
        var writer = CodeWriter()
        writer.line("// Generated by strait-protocol-gen from \(schema.fileName). DO NOT EDIT.")
        writer.line()
        writer.line("import NIOCore")
        writer.line()
        let versions = "versions \(valid.lowest)-\(valid.highest)"
        let flexible =
            schema.flexibleVersions.isEmpty
            ? "no flexible versions" : "flexible from \(schema.flexibleVersions.lowest)"
        if let apiKey = schema.apiKey {
            writer.line("/// \(schema.name) (API key \(apiKey)): \(versions), \(flexible).")
        } else {
            writer.line("/// \(schema.name) (\(schema.kind.rawValue) schema): \(versions), \(flexible).")
        }
        let conformance: String
        switch schema.kind {
        case .request: conformance = "KafkaRequestMessage, Equatable"
        default: conformance = "KafkaMessage, Equatable"
        }
        writer.block("public struct \(schema.name): \(conformance)") { writer in
            emitStaticMembers(into: &writer)
            emitBody(name: schema.name, fields: schema.fields, topLevel: true, into: &writer)
            for nested in schema.structs {
                writer.line()
                writer.doc(nested.about)
                writer.block("public struct \(nested.name): Sendable, Equatable") { writer in
                    emitBody(
                        name: "\(schema.name).\(nested.name)", fields: nested.fields, topLevel: false, into: &writer)
                }
            }
        }
        return writer.text
    }

    private func emitStaticMembers(into writer: inout CodeWriter) {
        if schema.kind == .request {
            let responseName = schema.name.replacingSuffix("Request", with: "Response")
            writer.line("public typealias Response = \(responseName)")
            writer.line()
            writer.line("public static let apiKey: APIKey = .\(APIKeyEmitter.caseName(forRequest: schema.name))")
        }
        writer.line("public static let validVersions: ClosedRange<Int16> = \(valid.swiftRange)")
        writer.line()
        writer.line("/// Whether `version` uses compact encodings and tagged fields.")
        writer.block("public static func isFlexible(version: Int16) -> Bool") { writer in
            if schema.flexibleVersions.isEmpty {
                writer.line("false")
            } else {
                let lowest = schema.flexibleVersions.lowest
                writer.line(lowest == 0 ? "true" : "version >= \(lowest)")
            }
        }
        writer.line()
    }

    private func emitBody(name: String, fields: [Field], topLevel: Bool, into writer: inout CodeWriter) {
        // Stored properties.
        for field in fields {
            writer.doc(field.about)
            writer.line("public var \(SwiftNames.property(field.name)): \(swiftType(field))")
        }
        if !fields.isEmpty { writer.line() }

        // Memberwise init.
        if fields.isEmpty {
            writer.line("public init() {}")
        } else {
            writer.line("public init(")
            for (index, field) in fields.enumerated() {
                let comma = index == fields.count - 1 ? "" : ","
                writer.line(
                    "    \(SwiftNames.property(field.name)): \(swiftType(field)) = \(defaultExpression(field))\(comma)")
            }
            writer.block(")") { writer in
                for field in fields {
                    let property = SwiftNames.property(field.name)
                    writer.line("self.\(property) = \(property)")
                }
            }
        }
        writer.line()

        let compact = flexibleExpression
        let apiKeyLiteral = schema.apiKey.map(String.init) ?? "-1"
        let taggedFields = fields.filter { !$0.taggedVersions.isEmpty }.sorted { ($0.tag ?? 0) < ($1.tag ?? 0) }

        // Decoder.
        writer.block("public init(from buffer: inout ByteBuffer, version: Int16) throws") { writer in
            if topLevel {
                writer.block("guard Self.validVersions.contains(version) else") { writer in
                    writer.line(
                        "throw KafkaDecodingError.unsupportedVersion(apiKey: \(apiKeyLiteral), version: version)")
                }
            }
            writer.line("self.init()")
            if let declaration = flexibleDeclaration { writer.line(declaration) }
            for field in fields where !field.inlineVersions.isEmpty {
                let range = field.inlineVersions
                let statements = decodeAssignment(
                    field, in: range, structName: name, buffer: "buffer", compact: compact)
                emitGuarded(condition(range), statements, into: &writer)
            }
            guard !schema.flexibleVersions.isEmpty else { return }
            let what = SwiftNames.stringLiteral("\(name) tagged fields")
            let section: (inout CodeWriter) -> Void = { writer in
                if taggedFields.isEmpty {
                    writer.line("try buffer.skipKafkaTaggedFields(what: \(what))")
                    return
                }
                writer.line("let taggedFieldCount = try buffer.readKafkaTaggedFieldCount(what: \(what))")
                writer.block("for _ in 0..<taggedFieldCount") { writer in
                    writer.line("let taggedField = try buffer.readKafkaTaggedField(what: \(what))")
                    writer.line("var tagged = taggedField.body")
                    writer.switchBlock("taggedField.tag") { writer in
                        for field in taggedFields {
                            let guardText = condition(field.taggedVersions).map { " where \($0)" } ?? ""
                            writer.line("case \(field.tag ?? 0)\(guardText):")
                            let statements = decodeAssignment(
                                field, in: field.taggedVersions, structName: name, buffer: "tagged", compact: "true")
                            for statement in statements { writer.line("    " + statement) }
                        }
                        writer.line("default:")
                        writer.line("    break")
                    }
                }
            }
            if compact == "true" { section(&writer) } else { writer.block("if \(compact)", section) }
        }
        writer.line()

        // Encoder.
        writer.block("public func encode(into buffer: inout ByteBuffer, version: Int16) throws") { writer in
            if topLevel {
                writer.block("guard Self.validVersions.contains(version) else") { writer in
                    writer.line(
                        "throw KafkaEncodingError.unsupportedVersion(apiKey: \(apiKeyLiteral), version: version)")
                }
            }
            if let declaration = flexibleDeclaration { writer.line(declaration) }
            for field in fields where !field.inlineVersions.isEmpty {
                let range = field.inlineVersions
                let statements = encodeStatements(
                    field, in: range, structName: name, buffer: "buffer", compact: compact)
                emitGuarded(condition(range), statements, into: &writer)
            }
            guard !schema.flexibleVersions.isEmpty else { return }
            let section: (inout CodeWriter) -> Void = { writer in
                if taggedFields.isEmpty {
                    writer.line("buffer.writeEmptyKafkaTaggedFields()")
                    return
                }
                writer.line("var taggedFieldCount: UInt32 = 0")
                for field in taggedFields {
                    let versionCondition = condition(field.taggedVersions).map { "\($0) && " } ?? ""
                    writer.line("let includes\(field.name) = \(versionCondition)\(differsFromDefault(field))")
                    writer.line("if includes\(field.name) { taggedFieldCount += 1 }")
                }
                writer.line("buffer.writeUnsignedVarint32(taggedFieldCount)")
                for field in taggedFields {
                    let statements = encodeStatements(
                        field, in: field.taggedVersions, structName: name, buffer: "tagged", compact: "true")
                    let throwing = statements.contains { $0.contains("try ") }
                    writer.block("if includes\(field.name)") { writer in
                        writer.rawBlock(
                            "\(throwing ? "try " : "")buffer.writeKafkaTaggedField(tag: \(field.tag ?? 0)) { tagged in"
                        ) { writer in
                            for statement in statements { writer.line(statement) }
                        }
                    }
                }
            }
            if compact == "true" { section(&writer) } else { writer.block("if \(compact)", section) }
        }
    }

    private func emitGuarded(_ condition: String?, _ statements: [String], into writer: inout CodeWriter) {
        if let condition {
            writer.block("if \(condition)") { writer in
                for statement in statements { writer.line(statement) }
            }
        } else {
            for statement in statements { writer.line(statement) }
        }
    }
}

extension String {
    func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        guard hasSuffix(suffix) else { return self }
        return String(dropLast(suffix.count)) + replacement
    }
}
