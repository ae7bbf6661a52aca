"""Log compaction with a real broker: many updates over a few keys, some deletes, then a consumer
from the beginning sees exactly the latest record of each key, at the offset it was written."""

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

KEYS = 20
ROUNDS = 40
DELETED = {f"key-{i:02d}" for i in range(5)}
FILLERS = 40
WAIT_S = 60.0


def produce_rounds(bootstrap: str, topic: str) -> dict[str, tuple[int, bytes | None]]:
    """ROUNDS rounds of one update per key (each round its own batches), then tombstones for
    DELETED, then FILLERS records of keys used once, so that the active segment holds only those.
    Returns key -> (offset, value) of its last record."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "compression.type": "lz4",
                         "enable.idempotence": True})
    latest: dict[str, tuple[int, bytes | None]] = {}
    failures = []

    def delivered(error, message):
        if error is not None:
            failures.append(error)
            return
        key = message.key().decode()
        if key not in latest or latest[key][0] < message.offset():
            latest[key] = (message.offset(), message.value())

    def send(key: str, value: bytes | None) -> None:
        producer.produce(topic, partition=0, key=key.encode(), value=value, on_delivery=delivered)

    for round_number in range(ROUNDS):
        for i in range(KEYS):
            send(f"key-{i:02d}", f"key-{i:02d} round {round_number} ".encode() * 3)
        assert producer.flush(30) == 0
    for key in sorted(DELETED):
        send(key, None)
    assert producer.flush(30) == 0
    # Fillers: at least a few segments' worth, so every update and tombstone is in a closed segment.
    for i in range(FILLERS):
        send(f"filler-{i:03d}", b"f" * 200)
        assert producer.flush(30) == 0
    assert not failures, failures[:3]
    return latest


def read_all(bootstrap: str, topic: str) -> list[tuple[int, str, bytes | None]]:
    """Every record of partition 0 from the beginning to the high watermark: (offset, key, value)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        records = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            records.append((message.offset(), message.key().decode(), message.value()))
            if message.offset() >= high - 1:
                return records
        raise AssertionError(f"read only up to offset {records[-1][0] if records else None} of {high}")
    finally:
        consumer.close()


def log_start(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"watermarks-{topic}"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[0]
    finally:
        consumer.close()


@pytest.mark.parametrize("delete_retention_ms", [86_400_000, 0])
def test_a_compacted_topic_keeps_the_latest_record_of_each_key(broker, topic, delete_retention_ms):
    b = broker(config={"log-cleaner-interval-ms": 200})
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config={
        "cleanup.policy": "compact", "segment.bytes": "2048", "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": str(delete_retention_ms)})])[topic].result(30)

    latest = produce_rounds(b.bootstrap, topic)
    # The last record of every key: deleted keys end in a tombstone, kept while delete.retention.ms
    # lasts and gone after it.
    expected = sorted((offset, key, value) for key, (offset, value) in latest.items()
                      if not (value is None and delete_retention_ms == 0))

    deadline = time.monotonic() + WAIT_S
    while True:
        seen = read_all(b.bootstrap, topic)
        if sorted(seen) == expected:
            break
        assert time.monotonic() < deadline, (
            f"after {WAIT_S}s still {len(seen)} records, want {len(expected)}; first: {seen[:5]}")
        time.sleep(0.5)

    # The segments were really rewritten (offsets above show gaps), and a restart recovers them.
    assert len(list(b.partition_dir(topic).glob("*.log"))) > 2
    assert not list(b.partition_dir(topic).glob("*.cleaned"))
    b.restart()
    assert sorted(read_all(b.bootstrap, topic)) == expected


def test_a_compact_delete_topic_is_compacted_and_still_trimmed_by_retention(broker, topic):
    b = broker(config={"log-cleaner-interval-ms": 200, "retention-check-interval-ms": 200})
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config={
        "cleanup.policy": "compact,delete", "segment.bytes": "2048", "min.cleanable.dirty.ratio": "0.01",
        "retention.bytes": "8192"})])[topic].result(30)
    latest = produce_rounds(b.bootstrap, topic)

    deadline = time.monotonic() + WAIT_S
    while True:
        seen = read_all(b.bootstrap, topic)
        keys = [key for _, key, _ in seen]
        # Compaction: no key twice outside the active segment's fillers. Retention: the oldest
        # records went, so the log starts later and is small.
        low = log_start(b.bootstrap, topic)
        if len(keys) == len(set(keys)) and low > 0:
            break
        assert time.monotonic() < deadline, f"after {WAIT_S}s: {len(keys)} records, {len(set(keys))} keys, low {low}"
        time.sleep(0.5)
    for offset, key, value in seen:
        assert latest[key] == (offset, value)
