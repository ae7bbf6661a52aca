"""What Apache Kafka refuses, a Strait broker refuses; what a link writes, Kafka accepts.

A lenient broker once hid a replicator bug: translate-mode links forwarded fetched batches at
their source base offsets, which Kafka refuses (INVALID_RECORD), so a link into Kafka stalled
after one batch while every test against Strait passed. These tests hold the broker to Kafka's
rules and run translate-mode links into such a broker, with every codec and producer kind.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from support import wire
from support.broker import free_port, strait_binary
from support.clients import confluent_produce
from support.records import make_records
from support.replicator import Replicator, link_topology
from support.wire import KafkaConnection, WireRecord
from test_replicator import end_offsets, link, read_all, wait_until


def parse_produce_v8(payload: bytes) -> list[tuple[int, int, str | None]]:
    """Produce v8 response -> [(partition, error code, error message)] (v8 carries the message)."""
    reader = wire.Reader(payload)
    reader.int32()  # correlation id
    results = []
    for _ in range(max(reader.int32(), 0)):
        reader.string()  # topic
        for _ in range(max(reader.int32(), 0)):
            partition, error_code = reader.int32(), reader.int16()
            reader.int64(), reader.int64(), reader.int64()  # base offset, log append time, log start
            for _ in range(max(reader.int32(), 0)):  # record errors
                reader.int32(), reader.string()
            results.append((partition, error_code, reader.string()))
    return results


def create_topic(bootstrap: str, topic: str, partitions: int, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})])[topic].result(timeout=30)


def test_a_batch_that_does_not_start_at_offset_zero_is_refused_as_kafka_refuses_it(broker, topic):
    b = broker()
    create_topic(b.bootstrap, topic, 1)
    at_1382 = wire.record_batch([WireRecord(b"k", b"v")], base_timestamp=1_700_000_000_000, base_offset=1382)
    at_0 = wire.record_batch([WireRecord(b"k", b"v")], base_timestamp=1_700_000_000_000)
    with KafkaConnection(b.host, b.port) as connection:
        [(_, code, message)] = parse_produce_v8(connection.request(wire.produce_request(1, topic, 0, at_1382, version=8)))
        assert code == wire.ERROR_INVALID_RECORD
        assert message == f"the baseOffset of the record batch should be 0, but it is 1382 (in the append to {topic}-0)"
        # Before Produce v8 there is no INVALID_RECORD: such clients get CORRUPT_MESSAGE, as from Kafka.
        _, results = wire.parse_produce_v3(connection.request(wire.produce_request(2, topic, 0, at_1382)))
        assert results[0].error_code == wire.ERROR_CORRUPT_MESSAGE
        _, offsets = wire.parse_list_offsets_v1(connection.request(wire.list_offsets_request(3, topic, 0)))
        assert offsets[0][3] == 0, "nothing was written"
        [(_, code, _)] = parse_produce_v8(connection.request(wire.produce_request(4, topic, 0, at_0, version=8)))
        assert code == wire.ERROR_NONE


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def test_translate_links_forward_every_codec_from_idempotent_and_plain_producers(broker, topic, tmp_path):
    """The stall, caught: with `compression: source` translate mode forwards batches without
    decompressing them, into a target as strict as Kafka, from idempotent and plain producers."""
    east, west = broker(), broker()
    topics = [f"{topic}-{codec}" for codec in CODECS]
    for name, codec in zip(topics, CODECS):
        create_topic(east.bootstrap, name, 2)
        records = make_records(3_000, codec)
        confluent_produce(east.bootstrap, name, {0: records[0:1000], 1: records[1000:2000]},
                          **{"compression.type": codec, "enable.idempotence": True})
        confluent_produce(east.bootstrap, name, {0: records[2000:2500], 1: records[2500:]},
                          **{"compression.type": codec})
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="translate")])).start()
    try:
        for name in topics:
            source_ends = end_offsets(east.bootstrap, name, 2)
            wait_until(lambda: end_offsets(west.bootstrap, f"east.{name}", 2) == source_ends,
                       f"east.{name} to hold every record", timeout=60, log=replicator.log)
    finally:
        assert replicator.stop() == 0
    for name in topics:
        source, target = read_all(east.bootstrap, name, 2), read_all(west.bootstrap, f"east.{name}", 2)
        for p in range(2):
            assert [r[1:] for r in target[p]] == [r[1:] for r in source[p]], f"{name} partition {p}"
    assert "the target refused a batch" not in replicator.log()


def test_an_idle_partition_gets_its_offset_sync_so_a_kill_9_mirrors_nothing_again(broker, topic, tmp_path):
    """Duplicates after a crash are bounded by the sync interval (1 s), for a partition that went
    quiet too: the newest position is synced while it idles."""
    east, west = broker(), broker()
    idle, busy = f"{topic}-idle", f"{topic}-busy"
    create_topic(east.bootstrap, idle, 2)
    create_topic(east.bootstrap, busy, 2)
    records = make_records(20_000, "idle")
    confluent_produce(east.bootstrap, idle, {0: records[:10_000], 1: records[10_000:]})
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="translate")])).start()
    try:
        idle_ends = end_offsets(east.bootstrap, idle, 2)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{idle}", 2) == idle_ends, "the idle topic mirrored",
                   log=replicator.log)
        time.sleep(3)  # idle: longer than the 1 s sync interval plus a 500 ms long poll
        busy_records = make_records(20_000, "busy")
        confluent_produce(east.bootstrap, busy, {0: busy_records[:10_000], 1: busy_records[10_000:]})
        time.sleep(0.3)  # mid-stream for the busy topic
        replicator.kill9()
        replicator.start()
        busy_ends = end_offsets(east.bootstrap, busy, 2)

        def reported(name: str) -> int:
            """The duplicates the replicator logged for the partitions of `name`."""
            lines = [line for line in replicator.log().splitlines() if re.search(rf"partition={re.escape(name)}-\d", line)]
            return sum(int(m.group(1)) for line in lines if (m := re.search(r"duplicates=(\d+)", line)))
        wait_until(lambda: sum(end_offsets(west.bootstrap, f"east.{busy}", 2)) == sum(busy_ends) + reported(busy),
                   "the busy topic to hold every record plus the reported duplicates", log=replicator.log)
        time.sleep(2)
        assert end_offsets(west.bootstrap, f"east.{idle}", 2) == idle_ends, "the idle topic was not mirrored again"
        assert reported(idle) == 0
        assert sum(end_offsets(west.bootstrap, f"east.{busy}", 2)) == sum(busy_ends) + reported(busy)
        target = read_all(west.bootstrap, f"east.{busy}", 2)
        source = read_all(east.bootstrap, busy, 2)
        for p in range(2):
            assert list(dict.fromkeys(r[1:] for r in target[p])) == [r[1:] for r in source[p]], "nothing lost"
    finally:
        replicator.stop()


def test_a_refused_write_names_the_kafka_error_and_counts_nothing_as_mirrored(broker, topic, tmp_path):
    """The target refuses every batch (its copy of the topic accepts timestamps of the last hour
    only; the records are from 2023): the log names INVALID_TIMESTAMP and the broker's message,
    the link's error count is its partitions', and no record or byte is counted as mirrored.
    Once the target accepts them, every record arrives."""
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic, 1)
    create_topic(west.bootstrap, f"east.{topic}", 1, {"message.timestamp.before.max.ms": "3600000"})
    confluent_produce(east.bootstrap, topic, {0: make_records(200, "old")})
    port = free_port()
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="translate")], status_port=port)).start()

    def status():
        result = subprocess.run([str(strait_binary()), "status", str(replicator.topology_path), "--output", "json"],
                                capture_output=True, timeout=30)
        return json.loads(result.stdout)[0] if result.returncode == 0 else None

    try:
        wait_until(lambda: (s := status()) is not None and s["partitions"] and s["partitions"][0]["errors"] >= 2,
                   "two refusals", log=replicator.log)
        log = replicator.log()
        assert "the target refused a batch" in log
        assert "INVALID_TIMESTAMP (32)" in log and "is out of range" in log, log[-2000:]
        snapshot = status()
        assert snapshot["errors"] == snapshot["taskErrors"] + sum(p["errors"] for p in snapshot["partitions"])
        assert snapshot["partitions"][0]["records"] == 0 and snapshot["partitions"][0]["bytes"] == 0
        assert "INVALID_TIMESTAMP" in snapshot["partitions"][0]["lastError"]
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert f'strait_link_bytes_total{{link="east->west",topic="{topic}",partition="0"}} 0' in metrics
        text = subprocess.run([str(strait_binary()), "status", str(replicator.topology_path)],
                              capture_output=True, timeout=30).stdout.decode()
        assert "link errors 0" not in text

        admin = AdminClient({"bootstrap.servers": west.bootstrap})
        resource = ConfigResource("topic", f"east.{topic}", set_config={"message.timestamp.before.max.ms": "9223372036854775807"})
        admin.alter_configs([resource])[resource].result(timeout=30)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}", 1) == [200], "every record once accepted",
                   log=replicator.log)
    finally:
        replicator.stop()


def test_a_transactional_librdkafka_producer_fails_at_once_with_a_fatal_error(broker, topic):
    b = broker()
    producer = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "tx-strait"})
    started = time.monotonic()
    with pytest.raises(KafkaException) as raised:
        producer.init_transactions(30)
    elapsed = time.monotonic() - started
    error = raised.value.args[0]
    assert elapsed < 1.0, f"took {elapsed:.1f} s: {error}"
    assert error.fatal() and not error.retriable(), error
    assert error.code() == 53, error  # TRANSACTIONAL_ID_AUTHORIZATION_FAILED
