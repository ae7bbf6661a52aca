"""Raw frames no client would send: the offending connection gets an error or is closed, others go on."""

import struct

from support import wire
from support.wire import KafkaConnection, WireRecord


def connect(b) -> KafkaConnection:
    return KafkaConnection(b.host, b.port)


def test_an_oversized_frame_closes_that_connection_only(broker):
    b = broker(config={"max-request-bytes": 1_048_576})
    with connect(b) as bystander, connect(b) as offender:
        offender.send(struct.pack(">i", 2_000_000) + b"\x00" * 64)
        assert offender.closed_by_peer(within=10)
        payload = bystander.request(wire.api_versions_request(correlation_id=1))
        assert struct.unpack_from(">i", payload)[0] == 1


def test_unknown_api_version_gets_the_v0_answer_with_the_supported_list(broker):
    b = broker()
    with connect(b) as connection:
        header = wire.request_header(wire.API_VERSIONS, 99, correlation_id=7)
        payload = connection.request(wire.frame(header + b"\x01\x02\x03"))
    response = wire.parse_api_versions_v0(payload)
    assert response.correlation_id == 7
    assert response.error_code == wire.ERROR_UNSUPPORTED_VERSION
    assert response.api_keys[wire.API_VERSIONS] == (0, 4)
    assert response.api_keys[wire.PRODUCE] == (0, 11)


def test_unknown_api_key_closes_the_connection(broker):
    b = broker()
    with connect(b) as connection:
        connection.send(wire.frame(wire.request_header(999, 0, correlation_id=1)))
        assert connection.closed_by_peer(within=10)


def test_a_batch_with_a_bad_crc_is_refused_and_nothing_is_written(broker, topic):
    b = broker()
    good = wire.record_batch([WireRecord(b"k", b"v")], base_timestamp=1_700_000_000_000)
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    with connect(b) as connection:
        _, results = wire.parse_produce_v3(connection.request(wire.produce_request(1, topic, 0, good)))
        assert results[0].error_code == wire.ERROR_NONE
        _, results = wire.parse_produce_v3(connection.request(wire.produce_request(2, topic, 0, bytes(bad))))
        assert results[0].error_code == wire.ERROR_CORRUPT_MESSAGE
        _, offsets = wire.parse_list_offsets_v1(connection.request(wire.list_offsets_request(3, topic, 0)))
        assert offsets == [(topic, 0, wire.ERROR_NONE, 1)]


def test_a_batch_that_lies_about_its_length_is_refused(broker, topic):
    b = broker()
    batch = bytearray(wire.record_batch([WireRecord(b"k", b"v" * 100)], base_timestamp=1_700_000_000_000))
    struct.pack_into(">i", batch, wire.BATCH_LENGTH_OFFSET, len(batch))  # claims 12 bytes more than sent
    shorter = bytearray(batch)
    struct.pack_into(">i", shorter, wire.BATCH_LENGTH_OFFSET, len(batch) - 40)  # claims less than sent
    with connect(b) as connection:
        for correlation_id, records in ((1, bytes(batch)), (2, bytes(shorter))):
            _, results = wire.parse_produce_v3(connection.request(wire.produce_request(correlation_id, topic, 0, records)))
            assert results[0].error_code != wire.ERROR_NONE
        _, offsets = wire.parse_list_offsets_v1(connection.request(wire.list_offsets_request(3, topic, 0)))
        assert offsets[0][3] == 0


def test_records_that_lie_inside_an_uncompressed_batch_are_refused(broker, topic):
    b = broker()
    record = wire.encode_record(WireRecord(b"key", b"value"), 0)
    lying = wire.varint(200) + record[1:]  # record length claims 200 bytes; the CRC is still right
    batch = wire.record_batch([WireRecord(b"key", b"value")], base_timestamp=1_700_000_000_000, records_area=lying)
    with connect(b) as connection:
        _, results = wire.parse_produce_v3(connection.request(wire.produce_request(1, topic, 0, batch)))
        assert results[0].error_code == wire.ERROR_CORRUPT_MESSAGE
