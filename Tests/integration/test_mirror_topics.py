"""Mirror topics (strait.mirror.source) with real clients: batches written by the Strait-only
StraitMirrorAppend API (sent raw) at their source offsets are consumed normally by kcat and
confluent-kafka; a producer gets a non-retriable refusal until the topic is promoted."""

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic)

from support.clients import kcat_consume_json
from support.wire import KafkaConnection, WireRecord, parse_mirror_append_v0, mirror_append_request, record_batch

TIMESTAMP = 1_700_000_000_000


def create_mirror(bootstrap: str, topic: str, source: str = "east") -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                            config={"strait.mirror.source": source})])
    futures[topic].result(timeout=10)


def source_batch(values: list[str], base_offset: int) -> bytes:
    records = [WireRecord(key=f"k{i}".encode(), value=v.encode(), timestamp_delta=i) for i, v in enumerate(values)]
    return record_batch(records, TIMESTAMP, base_offset=base_offset)


def mirror_append(b, topic: str, records: bytes | None, source_log_start_offset: int = -1):
    with KafkaConnection("127.0.0.1", b.port) as connection:
        _, results = parse_mirror_append_v0(connection.request(
            mirror_append_request(1, topic, 0, records, source_log_start_offset)))
    assert len(results) == 1
    return results[0]


def produce_one(bootstrap: str, topic: str, value: bytes):
    """One record with the default retry settings; returns (error or None, offset)."""
    outcome = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 60_000})
    producer.produce(topic, value=value, partition=0, on_delivery=lambda e, m: outcome.append((e, m.offset())))
    producer.flush(90)
    assert len(outcome) == 1
    return outcome[0]


def test_a_mirror_topic_is_consumed_normally_and_refuses_producers_until_promoted(broker, topic):
    b = broker()
    create_mirror(b.bootstrap, topic)
    # Offsets 100...102, then a gap (compaction or retention at the source), then 110...111.
    batches = source_batch(["a", "b", "c"], 100) + source_batch(["d", "e"], 110)
    result = mirror_append(b, topic, batches, source_log_start_offset=100)
    assert (result.error_code, result.log_start_offset, result.log_end_offset) == (0, 100, 112), result
    again = mirror_append(b, topic, batches)
    assert (again.error_code, again.appended_batches, again.skipped_batches) == (0, 0, 2), "a re-send is a no-op"

    read = kcat_consume_json(b.bootstrap, topic)
    assert [(r["offset"], r["payload"]) for r in read] == [(100, "a"), (101, "b"), (102, "c"), (110, "d"), (111, "e")]

    from confluent_kafka import Consumer, OFFSET_BEGINNING, TopicPartition
    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"reader-{topic}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = []
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append((message.offset(), message.value()))
            if len(got) == 5:
                break
        assert got == [(100, b"a"), (101, b"b"), (102, b"c"), (110, b"d"), (111, b"e")]
    finally:
        consumer.close()

    # Refused, and not retried until message.timeout.ms: INVALID_TOPIC_EXCEPTION is permanent.
    error, _ = produce_one(b.bootstrap, topic, b"local")
    assert error is not None and error.code() == KafkaError.TOPIC_EXCEPTION, error

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("strait.mirror.source", None, incremental_operation=AlterConfigOpType.DELETE)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=10)

    error, offset = produce_one(b.bootstrap, topic, b"local")
    assert error is None and offset == 112
    refused = mirror_append(b, topic, source_batch(["f"], 112))
    assert refused.error_code == 17, "after promotion the mirror API is refused"
