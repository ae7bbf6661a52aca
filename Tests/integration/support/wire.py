"""Kafka wire frames built and parsed by hand, for tests that must send what no client would.

Only the few request and response versions the raw-socket tests need are here, each written out
field by field from the schemas in ../shared/kafka-protocol/messages:

  request frame     INT32 size, then header, then body
  request header v1 api_key INT16, api_version INT16, correlation_id INT32, client_id STRING (INT16 len)
  request header v2 header v1, then an empty tagged-field section (one 0x00 byte)
  response header   v0: correlation_id INT32 (ApiVersions always answers with v0)

Record batches are magic v2 (see RECORD-FORMAT.md): a 61-byte header, CRC-32C over bytes 21..end.
"""

from __future__ import annotations

import gzip
import socket
import struct
import time
from dataclasses import dataclass, field

# --- API keys and error codes used by the tests --------------------------------------------------

PRODUCE = 0
LIST_OFFSETS = 2
METADATA = 3
SASL_HANDSHAKE = 17
API_VERSIONS = 18
SASL_AUTHENTICATE = 36
STRAIT_MIRROR_APPEND = 20000  # Strait-only: offset-preserving append into mirror topics

ERROR_NONE = 0
ERROR_CORRUPT_MESSAGE = 2
ERROR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERROR_LEADER_NOT_AVAILABLE = 5
ERROR_UNSUPPORTED_VERSION = 35
ERROR_INVALID_RECORD = 87

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1

LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2

# --- CRC-32C (Castagnoli), table driven ----------------------------------------------------------


def _make_crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- Primitive encoders --------------------------------------------------------------------------


def varint(value: int) -> bytes:
    """Signed zig-zag varint/varlong, as used inside records."""
    zigzag = (value << 1) ^ (value >> 63)
    zigzag &= (1 << 64) - 1
    return uvarint(zigzag)


def uvarint(value: int) -> bytes:
    """Unsigned base-128 varint, least significant group first (compact lengths, tag counts)."""
    out = bytearray()
    while True:
        group = value & 0x7F
        value >>= 7
        if value:
            out.append(group | 0x80)
        else:
            out.append(group)
            return bytes(out)


def int8(value: int) -> bytes:
    return struct.pack(">b", value)


def int16(value: int) -> bytes:
    return struct.pack(">h", value)


def int32(value: int) -> bytes:
    return struct.pack(">i", value)


def int64(value: int) -> bytes:
    return struct.pack(">q", value)


def string(value: str | None) -> bytes:
    """STRING / NULLABLE_STRING: INT16 length (-1 = null), UTF-8 bytes."""
    if value is None:
        return int16(-1)
    encoded = value.encode()
    return int16(len(encoded)) + encoded


def compact_string(value: str | None) -> bytes:
    """COMPACT_STRING: UNSIGNED_VARINT length+1 (0 = null), UTF-8 bytes."""
    if value is None:
        return uvarint(0)
    encoded = value.encode()
    return uvarint(len(encoded) + 1) + encoded


def nullable_bytes(value: bytes | None) -> bytes:
    """BYTES / RECORDS in non-flexible versions: INT32 length (-1 = null), then the bytes."""
    if value is None:
        return int32(-1)
    return int32(len(value)) + value


def array(items: list, encode_item) -> bytes:
    """ARRAY in non-flexible versions: INT32 count, then the items."""
    return int32(len(items)) + b"".join(encode_item(item) for item in items)


EMPTY_TAGGED_FIELDS = uvarint(0)

# --- Framing -------------------------------------------------------------------------------------


def request_header(api_key: int, api_version: int, correlation_id: int,
                   client_id: str | None = "strait-tests", flexible: bool = False) -> bytes:
    header = int16(api_key) + int16(api_version) + int32(correlation_id) + string(client_id)
    return header + EMPTY_TAGGED_FIELDS if flexible else header


def frame(payload: bytes) -> bytes:
    """Prefix a request or response with its INT32 size."""
    return int32(len(payload)) + payload


# --- Records and record batches ------------------------------------------------------------------


@dataclass(frozen=True)
class WireRecord:
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_delta: int = 0


def encode_record(record: WireRecord, offset_delta: int) -> bytes:
    """One record inside a batch: varint length, then attributes .. headers."""
    body = bytearray()
    body += int8(0)  # attributes, unused
    body += varint(record.timestamp_delta)
    body += varint(offset_delta)
    for blob in (record.key, record.value):
        if blob is None:
            body += varint(-1)
        else:
            body += varint(len(blob)) + blob
    body += varint(len(record.headers))
    for header_key, header_value in record.headers:
        encoded_key = header_key.encode()
        body += varint(len(encoded_key)) + encoded_key
        body += varint(-1) if header_value is None else varint(len(header_value)) + header_value
    return varint(len(body)) + bytes(body)


# Offsets of batch header fields (RECORD-FORMAT.md section 2).
BATCH_LENGTH_OFFSET = 8
BATCH_MAGIC_OFFSET = 16
BATCH_CRC_OFFSET = 17
BATCH_ATTRIBUTES_OFFSET = 21
BATCH_RECORDS_COUNT_OFFSET = 57
BATCH_HEADER_SIZE = 61


def record_batch(records: list[WireRecord], base_timestamp: int, compression: int = COMPRESSION_NONE,
                 base_offset: int = 0, producer_id: int = -1, producer_epoch: int = -1,
                 base_sequence: int = -1, records_area: bytes | None = None,
                 records_count: int | None = None, last_offset_delta: int | None = None) -> bytes:
    """A magic-v2 batch with a correct CRC.

    `records_area`, `records_count` and `last_offset_delta` override what the records imply, to
    build batches whose CRC is right but whose contents lie.
    """
    if records_area is None:
        records_area = b"".join(encode_record(record, delta) for delta, record in enumerate(records))
        if compression == COMPRESSION_GZIP:
            records_area = gzip.compress(records_area, mtime=0)
        elif compression != COMPRESSION_NONE:
            raise ValueError(f"record_batch builds only none and gzip batches, not codec {compression}")
    count = len(records) if records_count is None else records_count
    last_delta = count - 1 if last_offset_delta is None else last_offset_delta
    max_timestamp = base_timestamp + max((r.timestamp_delta for r in records), default=0)
    after_crc = (int16(compression) + int32(last_delta) + int64(base_timestamp) + int64(max_timestamp)
                 + int64(producer_id) + int16(producer_epoch) + int32(base_sequence) + int32(count)
                 + records_area)
    after_length = int32(-1) + int8(2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return int64(base_offset) + int32(len(after_length)) + after_length


@dataclass(frozen=True)
class StoredBatch:
    """A batch found in a byte stream (a segment file or a fetch response)."""
    position: int          # byte offset of the batch in the stream
    size: int              # batchLength + 12
    base_offset: int
    last_offset_delta: int
    records_count: int
    attributes: int
    crc_ok: bool

    @property
    def end(self) -> int:
        return self.position + self.size

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1


def scan_batches(data: bytes) -> tuple[list[StoredBatch], int]:
    """Walk back-to-back batches; returns the whole ones and the count of trailing bytes left over."""
    batches = []
    position = 0
    while position + BATCH_HEADER_SIZE <= len(data):
        base_offset, batch_length = struct.unpack_from(">qi", data, position)
        size = batch_length + 12
        if batch_length < BATCH_HEADER_SIZE - 12 or position + size > len(data):
            break
        (stored_crc,) = struct.unpack_from(">I", data, position + BATCH_CRC_OFFSET)
        attributes, last_offset_delta = struct.unpack_from(">hi", data, position + BATCH_ATTRIBUTES_OFFSET)
        (records_count,) = struct.unpack_from(">i", data, position + BATCH_RECORDS_COUNT_OFFSET)
        crc_ok = crc32c(data[position + BATCH_ATTRIBUTES_OFFSET:position + size]) == stored_crc
        batches.append(StoredBatch(position, size, base_offset, last_offset_delta, records_count,
                                   attributes, crc_ok))
        position += size
    return batches, len(data) - position


# --- Requests ------------------------------------------------------------------------------------


def api_versions_request(correlation_id: int, version: int = 0) -> bytes:
    """ApiVersions: v0-2 have an empty body and header v1; v3+ are flexible (header v2)."""
    if version >= 3:
        body = compact_string("strait-tests") + compact_string("1.0") + EMPTY_TAGGED_FIELDS
        return frame(request_header(API_VERSIONS, version, correlation_id, flexible=True) + body)
    return frame(request_header(API_VERSIONS, version, correlation_id))


def metadata_request(correlation_id: int, topics: list[str] | None, version: int = 4,
                     allow_auto_topic_creation: bool = True) -> bytes:
    """Metadata v1-v8 (non-flexible): Topics as a nullable array of names, v4+ AllowAutoTopicCreation."""
    if not 1 <= version <= 8:
        raise ValueError("metadata_request builds v1-v8 only")
    body = int32(-1) if topics is None else array(topics, string)
    if version >= 4:
        body += int8(1 if allow_auto_topic_creation else 0)
    if version >= 8:
        body += int8(0) + int8(0)  # include cluster / topic authorized operations
    return frame(request_header(METADATA, version, correlation_id) + body)


def produce_request(correlation_id: int, topic: str, partition: int, records: bytes | None,
                    acks: int = -1, timeout_ms: int = 10_000, version: int = 3) -> bytes:
    """Produce v3-v8 (non-flexible): TransactionalId, Acks, TimeoutMs, [topic [partition, records]]."""
    if not 3 <= version <= 8:
        raise ValueError("produce_request builds v3-v8 only")
    body = (string(None) + int16(acks) + int32(timeout_ms)
            + int32(1) + string(topic) + int32(1) + int32(partition) + nullable_bytes(records))
    return frame(request_header(PRODUCE, version, correlation_id) + body)


def list_offsets_request(correlation_id: int, topic: str, partition: int,
                         timestamp: int = LATEST_TIMESTAMP) -> bytes:
    """ListOffsets v1: ReplicaId, [topic [partition, timestamp]]."""
    body = int32(-1) + int32(1) + string(topic) + int32(1) + int32(partition) + int64(timestamp)
    return frame(request_header(LIST_OFFSETS, 1, correlation_id) + body)


def mirror_append_request(correlation_id: int, topic: str, partition: int, records: bytes | None,
                          source_log_start_offset: int = -1) -> bytes:
    """StraitMirrorAppend v0 (flexible, header v2): TimeoutMs, [topic [partition, SourceLogStartOffset, records]]."""
    records_field = uvarint(0) if records is None else uvarint(len(records) + 1) + records
    partition_entry = int32(partition) + int64(source_log_start_offset) + records_field + EMPTY_TAGGED_FIELDS
    topic_entry = compact_string(topic) + uvarint(2) + partition_entry + EMPTY_TAGGED_FIELDS
    body = int32(10_000) + uvarint(2) + topic_entry + EMPTY_TAGGED_FIELDS
    return frame(request_header(STRAIT_MIRROR_APPEND, 0, correlation_id, flexible=True) + body)


@dataclass
class MirrorAppendResult:
    partition: int
    error_code: int
    error_message: str | None
    log_end_offset: int
    log_start_offset: int
    appended_batches: int
    skipped_batches: int


def parse_mirror_append_v0(payload: bytes) -> tuple[int, list[MirrorAppendResult]]:
    """Response header v1 (correlation id, tagged fields), then the StraitMirrorAppend v0 body."""
    reader = Reader(payload)
    correlation_id = reader.int32()
    reader.skip_tagged_fields()
    reader.int32()  # throttle

    def read_partition() -> MirrorAppendResult:
        result = MirrorAppendResult(reader.int32(), reader.int16(), reader.compact_string(), reader.int64(),
                                    reader.int64(), reader.int32(), reader.int32())
        reader.skip_tagged_fields()
        return result

    def read_topic() -> list[MirrorAppendResult]:
        reader.compact_string()
        partitions = reader.compact_array(read_partition)
        reader.skip_tagged_fields()
        return partitions

    results = [p for topic in reader.compact_array(read_topic) for p in topic]
    reader.skip_tagged_fields()
    return correlation_id, results


# --- Responses -----------------------------------------------------------------------------------


class Reader:
    """Bounds-checked big-endian reader over one response payload."""

    def __init__(self, data: bytes):
        self.data = data
        self.position = 0

    def _take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.position + size > len(self.data):
            raise ValueError(f"response ends at byte {len(self.data)}, wanted {size} more at {self.position}")
        (value,) = struct.unpack_from(fmt, self.data, self.position)
        self.position += size
        return value

    def int8(self) -> int:
        return self._take(">b")

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def int64(self) -> int:
        return self._take(">q")

    def string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        raw = self.data[self.position:self.position + length]
        if len(raw) != length:
            raise ValueError("string runs past the end of the response")
        self.position += length
        return raw.decode()

    def array(self, read_item) -> list:
        count = self.int32()
        return [] if count < 0 else [read_item() for _ in range(count)]

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self._take(">B")
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def compact_string(self) -> str | None:
        length = self.uvarint() - 1
        if length < 0:
            return None
        raw = self.data[self.position:self.position + length]
        if len(raw) != length:
            raise ValueError("string runs past the end of the response")
        self.position += length
        return raw.decode()

    def compact_array(self, read_item) -> list:
        count = self.uvarint() - 1
        return [] if count < 0 else [read_item() for _ in range(count)]

    def skip_tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.position += self.uvarint()

    @property
    def remaining(self) -> int:
        return len(self.data) - self.position


@dataclass
class ApiVersionsV0Response:
    correlation_id: int
    error_code: int
    api_keys: dict[int, tuple[int, int]]
    trailing_bytes: int


def parse_api_versions_v0(payload: bytes) -> ApiVersionsV0Response:
    """ApiVersions response in the v0 layout: header v0, ErrorCode, INT32-counted [key, min, max]."""
    reader = Reader(payload)
    correlation_id = reader.int32()
    error_code = reader.int16()
    entries = reader.array(lambda: (reader.int16(), reader.int16(), reader.int16()))
    return ApiVersionsV0Response(correlation_id, error_code,
                                 {key: (low, high) for key, low, high in entries}, reader.remaining)


@dataclass
class MetadataTopic:
    error_code: int
    name: str
    partitions: list[tuple[int, int]]  # (error_code, partition_index)


@dataclass
class MetadataV4Response:
    correlation_id: int
    brokers: list[tuple[int, str, int]]
    cluster_id: str | None
    topics: list[MetadataTopic] = field(default_factory=list)


def parse_metadata_v4(payload: bytes) -> MetadataV4Response:
    reader = Reader(payload)
    correlation_id = reader.int32()
    reader.int32()  # throttle time
    brokers = reader.array(lambda: (reader.int32(), reader.string(), reader.int32(), reader.string())[:3])
    cluster_id = reader.string()
    reader.int32()  # controller id

    def read_partition():
        error_code, index = reader.int16(), reader.int32()
        reader.int32()  # leader
        reader.array(reader.int32)  # replicas
        reader.array(reader.int32)  # isr
        return error_code, index

    def read_topic():
        error_code, name = reader.int16(), reader.string()
        reader.int8()  # is internal
        return MetadataTopic(error_code, name, reader.array(read_partition))

    topics = reader.array(read_topic)
    return MetadataV4Response(correlation_id, brokers, cluster_id, topics)


@dataclass
class ProducePartitionResult:
    topic: str
    partition: int
    error_code: int
    base_offset: int


def parse_produce_v3(payload: bytes) -> tuple[int, list[ProducePartitionResult]]:
    """Produce v3 response: [topic [index, error, base_offset, log_append_time]], throttle."""
    reader = Reader(payload)
    correlation_id = reader.int32()
    results = []
    for _ in range(max(reader.int32(), 0)):
        topic = reader.string()
        for _ in range(max(reader.int32(), 0)):
            partition, error_code, base_offset = reader.int32(), reader.int16(), reader.int64()
            reader.int64()  # log append time
            results.append(ProducePartitionResult(topic, partition, error_code, base_offset))
    reader.int32()  # throttle time
    return correlation_id, results


def parse_list_offsets_v1(payload: bytes) -> tuple[int, list[tuple[str, int, int, int]]]:
    """ListOffsets v1 response: [topic [partition, error, timestamp, offset]] -> (topic, partition, error, offset)."""
    reader = Reader(payload)
    correlation_id = reader.int32()
    results = []
    for _ in range(max(reader.int32(), 0)):
        topic = reader.string()
        for _ in range(max(reader.int32(), 0)):
            partition, error_code = reader.int32(), reader.int16()
            reader.int64()  # timestamp
            results.append((topic, partition, error_code, reader.int64()))
    return correlation_id, results


def sasl_handshake_request(correlation_id: int, mechanism: str, version: int = 1) -> bytes:
    """SaslHandshake v0-1 (never flexible): Mechanism STRING. After v0 the tokens travel raw."""
    return frame(request_header(SASL_HANDSHAKE, version, correlation_id) + string(mechanism))


def parse_sasl_handshake(payload: bytes) -> tuple[int, int, list[str]]:
    """(correlation id, ErrorCode, Mechanisms) of a SaslHandshake v0/v1 response."""
    reader = Reader(payload)
    correlation_id = reader.int32()
    error_code = reader.int16()
    return correlation_id, error_code, reader.array(reader.string)


def sasl_authenticate_request(correlation_id: int, auth_bytes: bytes, version: int = 1) -> bytes:
    """SaslAuthenticate v0-1 (non-flexible): AuthBytes BYTES."""
    if version not in (0, 1):
        raise ValueError("sasl_authenticate_request builds v0-v1 only")
    return frame(request_header(SASL_AUTHENTICATE, version, correlation_id) + nullable_bytes(auth_bytes))


@dataclass
class SaslAuthenticateResponse:
    correlation_id: int
    error_code: int
    error_message: str | None
    auth_bytes: bytes
    session_lifetime_ms: int


def parse_sasl_authenticate(payload: bytes, version: int = 1) -> SaslAuthenticateResponse:
    reader = Reader(payload)
    correlation_id = reader.int32()
    error_code = reader.int16()
    error_message = reader.string()
    length = reader.int32()
    auth_bytes = reader._take(f">{max(length, 0)}s")
    lifetime = reader.int64() if version >= 1 else 0
    return SaslAuthenticateResponse(correlation_id, error_code, error_message, auth_bytes, lifetime)


# --- A blocking connection for request/response transcripts ----------------------------------------


class ConnectionClosed(Exception):
    pass


class KafkaConnection:
    """One TCP connection speaking raw frames. Every wait is bounded by `timeout` seconds."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv_exactly(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self.sock.recv(size - len(chunks))
            if not chunk:
                raise ConnectionClosed(f"peer closed the connection after {len(chunks)} of {size} bytes")
            chunks += chunk
        return bytes(chunks)

    def read_response(self) -> bytes:
        """One response frame's payload (everything after the INT32 size)."""
        (size,) = struct.unpack(">i", self._recv_exactly(4))
        if size < 0 or size > 256 * 1024 * 1024:
            raise ValueError(f"response claims {size} bytes")
        return self._recv_exactly(size)

    def request(self, data: bytes) -> bytes:
        self.send(data)
        return self.read_response()

    def closed_by_peer(self, within: float) -> bool:
        """True if the peer closes (EOF or reset) within `within` seconds; responses are drained."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if not self.sock.recv(65536):
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            except (socket.timeout, TimeoutError):
                return False
            finally:
                self.sock.settimeout(self.timeout)
        return False
