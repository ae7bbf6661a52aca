"""confluent-kafka, kafka-python and aiokafka produce with every codec and read back exactly."""

import pytest

from support.clients import aiokafka_roundtrip, confluent_consume, confluent_produce, kafka_python_roundtrip
from support.records import assert_same_records, make_records, split_by_partition

CODECS = ["none", "gzip", "lz4", "zstd", "snappy"]


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_idempotent_acks_all_producer_and_assigned_consumer(broker, topic, codec):
    b = broker(config={"num-partitions": 3})
    expected = split_by_partition(make_records(3_000, topic), 3)

    confluent_produce(b.bootstrap, topic, expected,
                      **{"acks": "all", "enable.idempotence": True, "compression.type": codec})
    read = confluent_consume(b.bootstrap, topic, expected)

    assert_same_records(expected, read)


@pytest.mark.parametrize("codec", [None, "gzip", "lz4", "zstd", "snappy"])
def test_kafka_python_producer_and_consumer(broker, topic, codec):
    b = broker()
    # kafka-python refuses null header values on send.
    records = make_records(1_000, topic, null_header_values=False)

    read = kafka_python_roundtrip(b.bootstrap, topic, records, codec)

    assert_same_records({0: records}, {0: read})


@pytest.mark.parametrize("codec", [None, "gzip", "lz4", "zstd", "snappy"])
def test_aiokafka_idempotent_producer_and_consumer(broker, topic, codec):
    b = broker()
    records = make_records(1_000, topic)

    read = aiokafka_roundtrip(b.bootstrap, topic, records, codec)

    assert_same_records({0: records}, {0: read})
