import KafkaRecords
import NIOCore
import KafkaProtocol

/// The provenance header: every record a link writes carries the site it was first produced at,
/// so that with identity naming (same topic name everywhere) a link never sends a record back to
/// the site it came from, however many hops it made.
///
/// Header key ``headerKey`` (`strait.origin`), value the origin site's name in UTF-8. A record
/// without the header was produced at the site it is read from.
public enum Provenance {
    public static let headerKey = "strait.origin"

    /// The site the record was first produced at, if it carries the header (the first one wins).
    public static func origin(of record: Record) -> String? {
        origin(in: record.headers)
    }

    public static func origin(in headers: [RecordHeader]) -> String? {
        guard let header = headers.first(where: { $0.key == headerKey }), let value = header.value else { return nil }
        return String(decoding: value, as: UTF8.self)
    }

    /// Whether a record read at `source` must not be written on a link to `target`: it was first
    /// produced at the target. Records without the header originate at `source` itself.
    public static func mustSkip(_ record: Record, onLinkTo target: String) -> Bool {
        origin(of: record) == target
    }

    public static func header(origin site: String) -> RecordHeader {
        RecordHeader(key: headerKey, value: Array(site.utf8))
    }
}

/// The compression a link writes with: the source batch's own codec, or a fixed one.
public enum LinkCompression: Sendable, Equatable {
    case source
    case codec(CompressionCodec)

    /// Parses `Topology.Link.compression`: "source", "none", "gzip", "lz4", "zstd", "snappy".
    public init?(_ name: String) {
        if name == "source" { self = .source; return }
        guard let codec = CompressionCodec.allCases.first(where: { $0.description == name }) else { return nil }
        self = .codec(codec)
    }

    func codec(for header: RecordBatchHeader) -> CompressionCodec {
        switch self {
        case .source: header.compression ?? .none
        case let .codec(codec): codec
        }
    }
}

/// The producer fields of the batches a link writes. `.none` (producerId -1, not transactional)
/// is what a plain, non-idempotent producer sends; an idempotent replicator passes its own id,
/// epoch and the partition's next sequence.
public struct ProducerStamp: Sendable, Equatable {
    public var producerId: ProducerID
    public var producerEpoch: ProducerEpoch
    public var baseSequence: Int32

    public init(producerId: ProducerID, producerEpoch: ProducerEpoch, baseSequence: Int32) {
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
    }

    public static let none = ProducerStamp(producerId: -1, producerEpoch: -1, baseSequence: -1)
}

/// The source offsets of the records of a written batch, as ascending, disjoint, non-adjacent
/// ranges. The records get consecutive target offsets, in this order, from the batch's base offset.
public struct SourceOffsets: Sendable, Equatable {
    public private(set) var ranges: [Range<Int64>]

    public init() { ranges = [] }

    public init(_ range: Range<Int64>) { ranges = range.isEmpty ? [] : [range] }

    /// Appends one offset, greater than every offset already present.
    public mutating func append(_ offset: Int64) {
        precondition(ranges.last.map { offset >= $0.upperBound } ?? true, "source offsets must ascend")
        if let last = ranges.last, last.upperBound == offset {
            ranges[ranges.count - 1] = last.lowerBound..<(offset + 1)
        } else {
            ranges.append(offset..<(offset + 1))
        }
    }

    public var count: Int64 { ranges.reduce(0) { $0 + Int64($1.count) } }
    public var isEmpty: Bool { ranges.isEmpty }
}

/// Turns batches fetched from a link's source into the batches to produce at its target, in a
/// form Apache Kafka accepts from a client (its LogValidator rules for magic 2).
///
/// Every batch it returns starts at **baseOffset 0** with **partitionLeaderEpoch -1**, as a
/// producer's batches do: Kafka refuses a client batch whose baseOffset is not 0
/// (INVALID_RECORD), and both fields lie outside the CRC, so setting them costs one copy of the
/// batch header and no checksum.
///
/// A batch is **forwarded** (records area, attributes, producer fields and CRC byte for byte)
/// when nothing else needs to change: its codec is the one the link writes, it is a CreateTime
/// batch, its offsets are dense (recordsCount == lastOffsetDelta + 1, i.e. not thinned by
/// compaction), it starts at or after the position mirrored from, its producer fields already
/// equal the stamp, and either the link stamps no provenance header or every record already
/// carries an origin other than the target.
///
/// When only the producer fields differ (an idempotent or transactional source producer), the
/// batch is **restamped**: producerId, producerEpoch and baseSequence become the stamp's (by
/// default none: -1, as a plain producer writes), the transactional bit is cleared and the CRC
/// recomputed over the unchanged, still compressed records area. The source's producer id means
/// nothing at the target: kept, it could collide with an id the target gave its own producers
/// (whose duplicate check would then drop mirrored records silently), and a re-mirror after a
/// restart would be refused as OUT_OF_ORDER_SEQUENCE_NUMBER forever.
///
/// Otherwise the batch is **rebuilt** with `RecordBatchBuilder`: keys, values, headers and
/// timestamps kept (a LogAppendTime batch's records keep the append time they were read with, as a
/// CreateTime), records that came from the target dropped, the provenance header added to records
/// that have none, compressed with the link's codec. Compacted batches need this: Kafka refuses a
/// batch whose record count does not match its offset range.
///
/// Control batches (transaction markers) are never written: they are `.dropped` and their offsets
/// are simply not mirrored. Records of aborted transactions are removed before this, by
/// ``AbortedTransactionFilter``.
public struct MirrorBatchRewriter: Sendable {
    public var source: String
    public var target: String
    /// Stamp `strait.origin` and drop records whose origin is the target (`Link.provenanceHeader`).
    public var provenanceHeader: Bool
    public var compression: LinkCompression
    public var compressionLevel: Int?

    public init(
        source: String, target: String, provenanceHeader: Bool, compression: LinkCompression,
        compressionLevel: Int? = nil
    ) {
        self.source = source
        self.target = target
        self.provenanceHeader = provenanceHeader
        self.compression = compression
        self.compressionLevel = compressionLevel
    }

    public enum Outcome: Sendable, Equatable {
        /// The input batch with baseOffset 0 and partitionLeaderEpoch -1 (outside the CRC).
        case forwarded
        /// Same records area, producer fields and CRC rewritten.
        case restamped
        /// Decoded and built again.
        case rebuilt
        /// Nothing to write (control batch, or every record came from the target).
        case dropped
    }

    public struct Result: Sendable {
        public var outcome: Outcome
        /// The batch to produce at the target; nil when `outcome == .dropped`.
        public var batch: StoredBatch?
        /// The source offsets of the records of `batch`, in order.
        public var sourceOffsets: SourceOffsets
        /// Records left out because their origin is the target (loop cut).
        public var skippedFromTarget: Int
    }

    /// Rewrites one fetched batch. Records below `from` (a fetch returns the whole batch holding
    /// the requested offset) are left out, which forces a rebuild if there are any.
    public func rewrite(_ batch: StoredBatch, from: Int64 = .min, producer: ProducerStamp = .none)
        throws(RecordBatchError) -> Result
    {
        let header = batch.header
        if header.isControl {
            return Result(outcome: .dropped, batch: nil, sourceOffsets: SourceOffsets(), skippedFromTarget: 0)
        }
        guard let sourceCodec = header.compression else { throw .unknownCompression(header.attributes & 0x07) }
        let codec = compression.codec(for: header)
        let dense = Int64(header.recordsCount) == Int64(header.lastOffsetDelta) + 1
        let structurallyForwardable =
            codec == sourceCodec && header.timestampType == .createTime && dense
            && header.baseOffset >= from && !header.hasDeleteHorizon

        var records: [Record]? = nil
        if provenanceHeader || !structurallyForwardable {
            records = try RecordBatchDecoder.records(in: batch)
        }
        let needsHeaders = provenanceHeader && records!.contains { Provenance.origin(of: $0) == nil }
        let hasLoopRecords = provenanceHeader && records!.contains { Provenance.mustSkip($0, onLinkTo: target) }

        if structurallyForwardable && !needsHeaders && !hasLoopRecords {
            let offsets = SourceOffsets(header.baseOffset..<header.nextOffset)
            if producerFieldsMatch(header, producer) {
                return Result(
                    outcome: .forwarded, batch: Self.asClientBatch(batch), sourceOffsets: offsets, skippedFromTarget: 0)
            }
            return Result(
                outcome: .restamped, batch: Self.restamp(batch, producer: producer), sourceOffsets: offsets,
                skippedFromTarget: 0)
        }

        var builder = RecordBatchBuilder(
            codec: codec, compressionLevel: compressionLevel,
            producerId: producer.producerId, producerEpoch: producer.producerEpoch,
            baseSequence: producer.baseSequence)
        var offsets = SourceOffsets()
        var skipped = 0
        for var record in records! where record.offset >= from {
            if provenanceHeader {
                if Provenance.mustSkip(record, onLinkTo: target) {
                    skipped += 1
                    continue
                }
                if Provenance.origin(of: record) == nil {
                    record.headers.append(Provenance.header(origin: source))
                }
            }
            offsets.append(record.offset)
            builder.append(record)
        }
        guard !builder.isEmpty else {
            return Result(outcome: .dropped, batch: nil, sourceOffsets: offsets, skippedFromTarget: skipped)
        }
        return Result(outcome: .rebuilt, batch: try builder.build(), sourceOffsets: offsets, skippedFromTarget: skipped)
    }

    private func producerFieldsMatch(_ header: RecordBatchHeader, _ producer: ProducerStamp) -> Bool {
        header.producerId == producer.producerId && header.producerEpoch == producer.producerEpoch
            && header.baseSequence == producer.baseSequence && !header.isTransactional
    }

    /// The batch as a client would send it: baseOffset 0 and partitionLeaderEpoch -1. Neither is
    /// under the CRC, which stays valid.
    public static func asClientBatch(_ batch: StoredBatch) -> StoredBatch {
        var copy = batch
        copy.assignBaseOffset(0)
        copy.stampLeaderEpoch(-1)
        return copy
    }

    /// The batch as a client would send it (``asClientBatch(_:)``) with new producer fields, the
    /// transactional bit cleared and the CRC recomputed. The records area (compressed or not) is
    /// copied as is.
    public static func restamp(_ batch: StoredBatch, producer: ProducerStamp) -> StoredBatch {
        var bytes = ByteBuffer()
        bytes.reserveCapacity(batch.bytes.readableBytes)
        var original = batch.bytes
        bytes.writeBuffer(&original)
        let start = bytes.readerIndex
        bytes.setInteger(Int64(0), at: start, endianness: .big)
        bytes.setInteger(Int32(-1), at: start + 12, endianness: .big)
        let attributes = batch.header.attributes & ~Int16(0x10)
        bytes.setInteger(attributes, at: start + RecordBatchHeader.attributesOffset, endianness: .big)
        bytes.setInteger(producer.producerId, at: start + 43, endianness: .big)
        bytes.setInteger(producer.producerEpoch, at: start + 51, endianness: .big)
        bytes.setInteger(producer.baseSequence, at: start + 53, endianness: .big)
        let crc = CRC32C.checksum(
            bytes, at: start + RecordBatchHeader.attributesOffset,
            length: batch.header.totalSize - RecordBatchHeader.attributesOffset)
        bytes.setInteger(crc, at: start + RecordBatchHeader.crcOffset, endianness: .big)
        var header = batch.header
        header.baseOffset = 0
        header.partitionLeaderEpoch = -1
        header.attributes = attributes
        header.producerId = producer.producerId
        header.producerEpoch = producer.producerEpoch
        header.baseSequence = producer.baseSequence
        header.crc = crc
        return StoredBatch(header: header, bytes: bytes)
    }
}
