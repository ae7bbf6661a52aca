"""kcat (librdkafka) against a strait broker: metadata, 100,000 keyed lz4 records, timestamps."""

import subprocess

from support.clients import confluent_produce, kcat_consume_json
from support.records import make_records

RECORDS = 100_000


def kcat(*arguments, stdin: bytes | None = None, timeout: float = 120) -> str:
    result = subprocess.run(["kcat", *arguments], input=stdin, capture_output=True, timeout=timeout, check=True)
    return result.stdout.decode()


def test_kcat_lists_the_broker_and_topics(broker, topic):
    b = broker(config={"num-partitions": 3})
    kcat("-b", b.bootstrap, "-P", "-t", topic, stdin=b"hello\n")
    listing = kcat("-b", b.bootstrap, "-L")
    assert f"broker {b.node_id} at {b.bootstrap}" in listing
    assert f'topic "{topic}" with 3 partitions' in listing


def test_kcat_produces_100000_keyed_lz4_records_and_reads_back_exactly_those(broker, topic):
    b = broker()
    lines = [f"key-{i}:value-{i}-{'x' * (i % 50)}" for i in range(RECORDS)]
    kcat("-b", b.bootstrap, "-P", "-t", topic, "-p", "0", "-z", "lz4", "-K:", "-H", "origin=kcat", "-H", "run=1",
         stdin=("\n".join(lines) + "\n").encode())

    read = kcat_consume_json(b.bootstrap, topic)

    assert len(read) == RECORDS
    assert [r["offset"] for r in read] == list(range(RECORDS))
    assert [f"{r['key']}:{r['payload']}" for r in read] == lines
    assert all(r["headers"] == ["origin", "kcat", "run", "1"] for r in read)
    assert all(r["tstype"] == "create" for r in read)


def test_timestamps_set_by_the_producer_come_back_unchanged_through_kcat(broker, topic):
    b = broker()
    records = make_records(2_000, topic, binary=False, null_header_values=False)
    confluent_produce(b.bootstrap, topic, {0: records}, **{"compression.type": "lz4"})

    read = kcat_consume_json(b.bootstrap, topic)

    assert [r["ts"] for r in read] == [rec.timestamp for rec in records]
    assert [r["key"] for r in read] == [None if rec.key is None else rec.key.decode() for rec in records]
