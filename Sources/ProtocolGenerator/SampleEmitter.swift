enum SampleEmitter {
    static func emit(schemas: [MessageSchema]) -> String { "" }
}
