import KafkaProtocol

/// A generated message with generated sample values (see GeneratedSamples.swift, written by
/// `strait-protocol-gen --test-samples`).
protocol SampledMessage: KafkaMessage, Equatable {
    static var validVersions: ClosedRange<Int16> { get }
    /// A value with every field present in `version` set to a non-default value.
    static func sample(version: Int16) -> Self
}
