"""The admin surface through confluent-kafka's AdminClient (librdkafka)."""

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions,
                                   NewTopic)

from support.clients import confluent_consume, confluent_produce
from support.records import make_records


def admin_for(b) -> AdminClient:
    return AdminClient({"bootstrap.servers": b.bootstrap})


def describe(admin: AdminClient, topic: str) -> dict:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return {name: entry.value for name, entry in admin.describe_configs([resource])[resource].result(30).items()}


def test_create_describe_alter_grow_trim_and_delete_a_topic(broker, topic):
    b = broker()
    admin = admin_for(b)

    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                  config={"retention.ms": "3600000", "cleanup.policy": "delete"})])[topic].result(30)
    assert len(admin.list_topics(timeout=30).topics[topic].partitions) == 2
    assert describe(admin, topic)["retention.ms"] == "3600000"

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([resource])[resource].result(30)
    configs = describe(admin, topic)
    assert configs["segment.bytes"] == "1048576"
    assert configs["retention.ms"] == "604800000"

    admin.create_partitions([NewPartitions(topic, 4)])[topic].result(30)
    assert len(admin.list_topics(timeout=30).topics[topic].partitions) == 4

    records = {0: make_records(100, topic)}
    confluent_produce(b.bootstrap, topic, records)
    trimmed = admin.delete_records([TopicPartition(topic, 0, 60)])
    assert next(iter(trimmed.values())).result(30).low_watermark == 60
    remaining = confluent_consume(b.bootstrap, topic, {0: records[0][60:]})
    assert remaining[0] == records[0][60:]

    admin.delete_topics([topic])[topic].result(30)
    assert topic not in admin.list_topics(timeout=30).topics


def test_bad_admin_requests_get_kafka_errors(broker, topic):
    b = broker()
    admin = admin_for(b)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)

    with pytest.raises(KafkaException, match="TOPIC_ALREADY_EXISTS"):
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    with pytest.raises(KafkaException, match="INVALID_REPLICATION_FACTOR"):
        admin.create_topics([NewTopic(f"{topic}-rf3", num_partitions=1, replication_factor=3)])[f"{topic}-rf3"].result(30)
    with pytest.raises(KafkaException, match="INVALID_CONFIG"):
        admin.create_topics([NewTopic(f"{topic}-cfg", num_partitions=1, replication_factor=1,
                                      config={"retention.mss": "1"})])[f"{topic}-cfg"].result(30)
    with pytest.raises(KafkaException, match="INVALID_PARTITIONS"):
        admin.create_partitions([NewPartitions(topic, 1)])[topic].result(30)


def test_the_broker_restarts_with_its_topics_configs_and_records(broker, topic):
    b = broker()
    admin = admin_for(b)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1,
                                  config={"retention.ms": "-1"})])[topic].result(30)
    records = {p: make_records(200, f"{topic}-{p}") for p in range(3)}
    confluent_produce(b.bootstrap, topic, records, **{"acks": "all"})

    b.restart()

    admin = admin_for(b)
    assert describe(admin, topic)["retention.ms"] == "-1"
    assert confluent_consume(b.bootstrap, topic, records) == records
