"""Fencing a topic (strait.fenced) with confluent-kafka: a planned failover's first step. While the
config is set every produce is refused with INVALID_TOPIC_EXCEPTION, permanently (no retries until
message.timeout.ms); fetches go on; deleting the
config unfences, and a consumer reads exactly the acknowledged records."""

import time

from confluent_kafka import Consumer, KafkaError, OFFSET_BEGINNING, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

FENCE = "failover orders-dr-20261202T101500Z to west"


def alter(admin: AdminClient, topic: str, entry: ConfigEntry) -> None:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=10)


def produce(bootstrap: str, topic: str, values: list[bytes], **settings) -> list:
    """Each value to partition 0 or 1 (alternating) with the default retry settings; returns every
    delivery report as (error or None, partition, offset, value)."""
    reports = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 60_000, "linger.ms": 0, **settings})
    for i, value in enumerate(values):
        producer.produce(topic, value=value, partition=i % 2,
                         on_delivery=lambda e, m: reports.append((e, m.partition(), m.offset(), m.value())))
    assert producer.flush(90) == 0
    assert len(reports) == len(values)
    return reports


def test_a_fenced_topic_refuses_every_producer_until_the_fence_is_deleted(broker, topic):
    b = broker()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(timeout=10)

    before = produce(b.bootstrap, topic, [b"a0", b"a1", b"a2", b"a3"])
    assert [e for e, *_ in before] == [None] * 4

    alter(admin, topic, ConfigEntry("strait.fenced", FENCE, incremental_operation=AlterConfigOpType.SET))
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    configs = list(described.values())[0].result(timeout=10)
    assert configs["strait.fenced"].value == FENCE

    for settings in ({}, {"enable.idempotence": True}):
        started = time.monotonic()
        refused = produce(b.bootstrap, topic, [b"late0", b"late1"], **settings)
        elapsed = time.monotonic() - started
        for error, partition, _, _ in refused:
            assert error is not None, refused
            assert error.code() == KafkaError.TOPIC_EXCEPTION and error.name() == "TOPIC_EXCEPTION", error
            assert not error.retriable(), error
        assert elapsed < 30, f"refused at once, not retried until message.timeout.ms ({elapsed:.1f} s, {settings})"
        # librdkafka (2.16) reports the code only, not Produce v8+'s per-partition error message
        # (the broker sends it; BrokerCoreTests' FencedTopicTests check its text).
        assert {str(error) for error, *_ in refused} == {
            'KafkaError{code=TOPIC_EXCEPTION,val=17,str="Broker: Invalid topic"}'}, refused

    # Reads are unaffected while fenced.
    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"g-{topic}", "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert (low, high) == (0, 2)
    finally:
        consumer.close()

    alter(admin, topic, ConfigEntry("strait.fenced", None, incremental_operation=AlterConfigOpType.DELETE))
    after = produce(b.bootstrap, topic, [b"b0", b"b1"])
    assert [e for e, *_ in after] == [None, None]

    acknowledged = sorted((p, o, v) for e, p, o, v in before + after if e is None)
    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"reader-{topic}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING), TopicPartition(topic, 1, OFFSET_BEGINNING)])
        read = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(read) < len(acknowledged):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                read.append((message.partition(), message.offset(), message.value()))
        time.sleep(0.5)
        message = consumer.poll(0.5)
        assert message is None or message.error() is not None, "nothing beyond the acknowledged records"
        assert sorted(read) == acknowledged
        assert acknowledged == [(0, 0, b"a0"), (0, 1, b"a2"), (0, 2, b"b0"), (1, 0, b"a1"), (1, 1, b"a3"), (1, 2, b"b1")]
    finally:
        consumer.close()


def test_an_empty_fence_is_refused_with_invalid_config(broker, topic):
    b = broker()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=10)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("strait.fenced", "", incremental_operation=AlterConfigOpType.SET)])
    future = list(admin.incremental_alter_configs([resource]).values())[0]
    try:
        future.result(timeout=10)
        raise AssertionError("an empty strait.fenced was accepted")
    except Exception as failure:  # confluent_kafka raises KafkaException wrapping the KafkaError
        error = failure.args[0]
        assert error.code() == KafkaError.INVALID_CONFIG, error
        assert "strait.fenced must say why the topic is fenced" in error.str(), error
