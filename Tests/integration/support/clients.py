"""Real clients driven the way an application would drive them, returning `Rec`s to compare."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from support.records import Rec

CONSUME_TIMEOUT_S = 60.0


def confluent_produce(bootstrap: str, topic: str, by_partition: dict[int, list[Rec]], **config) -> None:
    """Produce every record to its partition; fail on any delivery error."""
    settings = {"bootstrap.servers": bootstrap, "linger.ms": 5}
    settings.update(config)
    producer = Producer(settings)
    failures = []

    def delivered(error, message):
        if error is not None:
            failures.append(error)

    for partition, records in by_partition.items():
        for record in records:
            while True:
                try:
                    producer.produce(topic, partition=partition, key=record.key, value=record.value,
                                     headers=list(record.headers), timestamp=record.timestamp,
                                     on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
    remaining = producer.flush(CONSUME_TIMEOUT_S)
    assert remaining == 0, f"{remaining} records were never acknowledged"
    assert not failures, f"delivery failed: {failures[:3]}"


def _headers(message_headers) -> tuple:
    return tuple((name, value) for name, value in (message_headers or []))


def confluent_consume(bootstrap: str, topic: str, expected: dict[int, list[Rec]]) -> dict[int, list[Rec]]:
    """Assign every partition from the beginning and read until each has its expected count
    (bounded by CONSUME_TIMEOUT_S); return what was read."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in expected])
        got: dict[int, list[Rec]] = {partition: [] for partition in expected}
        want = sum(len(records) for records in expected.values())
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while sum(len(records) for records in got.values()) < want and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            got.setdefault(message.partition(), []).append(
                Rec(message.key(), message.value(), _headers(message.headers()), message.timestamp()[1]))
        # Anything beyond the expected records would be a duplicate: give it a moment to show up.
        for message in consumer.consume(num_messages=1000, timeout=0.5):
            if not message.error():
                got.setdefault(message.partition(), []).append(
                    Rec(message.key(), message.value(), _headers(message.headers()), message.timestamp()[1]))
        return got
    finally:
        consumer.close()


def kcat_consume_json(bootstrap: str, topic: str, partition: int = 0, timeout_s: float = CONSUME_TIMEOUT_S) -> list[dict]:
    """Every record of one partition as kcat's JSON lines (from the beginning to the end)."""
    result = subprocess.run(
        ["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", str(partition), "-o", "beginning", "-e", "-J", "-q"],
        capture_output=True, timeout=timeout_s, check=True)
    return [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]


def kafka_python_roundtrip(bootstrap: str, topic: str, records: list[Rec], codec: str | None) -> list[Rec]:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KPTopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec, linger_ms=5)
    futures = [producer.send(topic, partition=0, key=r.key, value=r.value, headers=list(r.headers),
                             timestamp_ms=r.timestamp) for r in records]
    producer.flush(timeout=CONSUME_TIMEOUT_S)
    for future in futures:
        future.get(timeout=CONSUME_TIMEOUT_S)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partition = KPTopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        got: list[Rec] = []
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while len(got) < len(records) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                got += [Rec(m.key, m.value, tuple(m.headers), m.timestamp) for m in batch]
        return got
    finally:
        consumer.close()


def aiokafka_roundtrip(bootstrap: str, topic: str, records: list[Rec], codec: str | None) -> list[Rec]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as AIOTopicPartition

    async def run() -> list[Rec]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec,
                                    enable_idempotence=True, linger_ms=5)
        await producer.start()
        try:
            sends = [await producer.send(topic, partition=0, key=r.key, value=r.value, headers=list(r.headers),
                                         timestamp_ms=r.timestamp) for r in records]
            await asyncio.wait_for(asyncio.gather(*sends), CONSUME_TIMEOUT_S)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partition = AIOTopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            got: list[Rec] = []
            deadline = time.monotonic() + CONSUME_TIMEOUT_S
            while len(got) < len(records) and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    got += [Rec(m.key, m.value, tuple(m.headers), m.timestamp) for m in batch]
            return got
        finally:
            await consumer.stop()

    return asyncio.run(run())
