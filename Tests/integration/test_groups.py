"""Consumer groups with real clients: kcat -G, confluent-kafka (eager and cooperative-sticky),
kafka-python and aiokafka group consumers, committed offsets across a kill -9 of the broker."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from support.clients import confluent_produce
from support.records import Rec

GROUP_BROKER = {"num-partitions": 6, "group-initial-rebalance-delay-ms": 300}
SESSION_TIMEOUT_MS = 6000
DEADLINE_S = 60.0


def produce_numbered(bootstrap: str, topic: str, partitions: int, per_partition: int, start: int = 0) -> set[str]:
    """Values "p<partition>-<n>" for n in [start, start+per_partition); returns them all."""
    by_partition = {p: [Rec(f"k{n}".encode(), f"p{p}-{n}".encode(), (), 1_700_000_000_000 + n)
                        for n in range(start, start + per_partition)] for p in range(partitions)}
    confluent_produce(bootstrap, topic, by_partition)
    return {r.value.decode() for records in by_partition.values() for r in records}


class KcatMember:
    """One `kcat -G` balanced consumer; its stdout lines ("partition value") are collected."""

    def __init__(self, bootstrap: str, group: str, topic: str):
        self.lines: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            ["kcat", "-b", bootstrap, "-G", group, "-u", "-q", "-f", "%p %s\\n",
             "-X", "auto.offset.reset=earliest", "-X", f"session.timeout.ms={SESSION_TIMEOUT_MS}",
             "-X", "heartbeat.interval.ms=500", "-X", "auto.commit.interval.ms=200", topic],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            partition, value = raw.decode().strip().split(" ", 1)
            with self.lock:
                self.lines.append((int(partition), value))

    def values(self) -> list[str]:
        with self.lock:
            return [value for _, value in self.lines]

    def partitions(self) -> set[int]:
        with self.lock:
            return {partition for partition, _ in self.lines}

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_until(condition, timeout: float = DEADLINE_S, what: str = "condition") -> float:
    """Polls `condition` until true; returns the seconds it took. Fails after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def test_three_kcat_consumers_split_six_partitions_and_take_over_a_killed_member(broker, topic):
    b = broker(config=GROUP_BROKER)
    first = produce_numbered(b.bootstrap, topic, partitions=6, per_partition=500)
    group = f"kcat-{topic}"
    members = [KcatMember(b.bootstrap, group, topic) for _ in range(3)]
    try:
        def all_values():
            return [v for m in members for v in m.values()]
        wait_until(lambda: len(all_values()) >= len(first), what="3,000 records across the group")
        time.sleep(1.0)  # any duplicate delivery would show up by now; auto-commits happen too
        counts = Counter(all_values())
        assert set(counts) == first
        assert max(counts.values()) == 1, "every record is consumed exactly once across the group"
        owned = [m.partitions() for m in members]
        assert all(len(p) == 2 for p in owned), f"6 partitions split 2/2/2, got {owned}"
        assert set().union(*owned) == set(range(6))

        victim, survivors = members[0], members[1:]
        victim_partitions = owned[0]
        victim.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        second = produce_numbered(b.bootstrap, topic, partitions=6, per_partition=100, start=1000)
        wait_until(lambda: second <= set(v for m in survivors for v in m.values()),
                   what="the survivors to read every new record")
        handed_over_in = time.monotonic() - killed_at
        assert handed_over_in < SESSION_TIMEOUT_MS / 1000 + 10, f"took {handed_over_in:.1f} s"
        taken = set().union(*(m.partitions() for m in survivors))
        assert victim_partitions <= taken, "the killed member's partitions moved to the others"
        new_counts = Counter(v for m in survivors for v in m.values() if v in second)
        assert max(new_counts.values()) == 1
    finally:
        for member in members:
            member.stop()


def consume_with_manual_commits(bootstrap: str, group: str, topic: str, strategy: str,
                                expected: set[str], consumers: int = 2) -> tuple[Counter, list[set[int]]]:
    """`consumers` confluent-kafka consumers subscribe with `strategy`, commit synchronously after
    every message, and read until `expected` is covered. Returns value counts and each one's partitions."""
    members = [Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "partition.assignment.strategy": strategy,
                         "session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": 500})
               for _ in range(consumers)]
    counts: Counter = Counter()
    seen: list[set[int]] = [set() for _ in members]
    try:
        for member in members:
            member.subscribe([topic])
        deadline = time.monotonic() + DEADLINE_S
        while not expected <= set(counts) and time.monotonic() < deadline:
            for index, member in enumerate(members):
                message = member.poll(0.1)
                if message is None or message.error():
                    continue
                counts[message.value().decode()] += 1
                seen[index].add(message.partition())
                member.commit(message=message, asynchronous=False)
        assert expected <= set(counts), f"read {len(counts)} of {len(expected)}"
    finally:
        for member in members:
            member.close()
    return counts, seen


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_confluent_subscribe_with_manual_commits(broker, topic, strategy):
    b = broker(config=GROUP_BROKER)
    values = produce_numbered(b.bootstrap, topic, partitions=6, per_partition=50)
    group = f"confluent-{strategy}-{topic}"
    counts, seen = consume_with_manual_commits(b.bootstrap, group, topic, strategy, values)
    assert sorted(len(owned) for owned in seen) == [3, 3] and not seen[0] & seen[1], \
        f"both members joined the first generation and split the partitions: {seen}"
    # Synchronous commits after every record: a rebalance can re-deliver nothing.
    assert set(counts) == values and max(counts.values()) == 1

    checker = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
    try:
        committed = checker.committed([TopicPartition(topic, p) for p in range(6)], timeout=10)
    finally:
        checker.close()
    assert [tp.offset for tp in committed] == [50] * 6


def test_group_is_listed_and_described_through_the_admin_api(broker, topic):
    b = broker(config=GROUP_BROKER)
    values = produce_numbered(b.bootstrap, topic, partitions=6, per_partition=5)
    group = f"described-{topic}"
    member = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "client.id": "describer",
                       "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_TIMEOUT_MS})
    try:
        member.subscribe([topic])
        got = set()
        deadline = time.monotonic() + DEADLINE_S
        while got != values and time.monotonic() < deadline:
            message = member.poll(0.2)
            if message is not None and not message.error():
                got.add(message.value().decode())
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        listed = admin.list_consumer_groups().result(timeout=10)
        assert group in {g.group_id for g in listed.valid}
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
        assert str(description.state).endswith("STABLE")
        assert [m.client_id for m in description.members] == ["describer"]
        assigned = {tp.partition for tp in description.members[0].assignment.topic_partitions}
        assert assigned == set(range(6))
    finally:
        member.close()


def test_kafka_python_group_consumer_commits(broker, topic):
    from kafka import KafkaConsumer, TopicPartition as KTopicPartition

    b = broker(config=GROUP_BROKER)
    values = produce_numbered(b.bootstrap, topic, partitions=6, per_partition=40)
    group = f"kafka-python-{topic}"
    consumer = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=SESSION_TIMEOUT_MS,
                             heartbeat_interval_ms=500)
    try:
        got: Counter = Counter()
        deadline = time.monotonic() + DEADLINE_S
        while not values <= set(got) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got.update(r.value.decode() for r in records)
            consumer.commit()
        assert set(got) == values and max(got.values()) == 1
        committed = [consumer.committed(KTopicPartition(topic, p)) for p in range(6)]
        assert committed == [40] * 6
        assert consumer.assignment() == {KTopicPartition(topic, p) for p in range(6)}
    finally:
        consumer.close()


def test_aiokafka_group_consumer_commits(broker, topic):
    from aiokafka import AIOKafkaConsumer, TopicPartition as ATopicPartition

    b = broker(config=GROUP_BROKER)
    values = produce_numbered(b.bootstrap, topic, partitions=6, per_partition=40)
    group = f"aiokafka-{topic}"

    async def run():
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False,
                                    auto_offset_reset="earliest", session_timeout_ms=SESSION_TIMEOUT_MS,
                                    heartbeat_interval_ms=500)
        await consumer.start()
        try:
            got: Counter = Counter()
            deadline = time.monotonic() + DEADLINE_S
            while not values <= set(got) and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    got.update(r.value.decode() for r in records)
                await consumer.commit()
            committed = [await consumer.committed(ATopicPartition(topic, p)) for p in range(6)]
            return got, committed
        finally:
            await consumer.stop()

    got, committed = asyncio.run(run())
    assert set(got) == values and max(got.values()) == 1
    assert committed == [40] * 6


def test_committed_offsets_survive_a_kill_9_of_the_broker(broker, topic):
    b = broker(config=GROUP_BROKER)
    produce_numbered(b.bootstrap, topic, partitions=6, per_partition=10)
    group = f"durable-{topic}"
    wanted = [TopicPartition(topic, p, 3 + p, "meta-" + str(p)) for p in range(6)]
    committer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
    try:
        result = committer.commit(offsets=wanted, asynchronous=False)
        assert all(tp.error is None for tp in result)
    finally:
        committer.close()

    b.kill9()
    b.restart()

    reader = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
    try:
        committed = reader.committed([TopicPartition(topic, p) for p in range(6)], timeout=20)
    finally:
        reader.close()
    assert [(tp.partition, tp.offset, tp.metadata) for tp in committed] == \
        [(p, 3 + p, "meta-" + str(p)) for p in range(6)]


def test_commit_for_an_unknown_topic_is_refused(broker, topic):
    b = broker(config=GROUP_BROKER)
    committer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"bad-{topic}"})
    try:
        with pytest.raises(KafkaException) as failure:
            committer.commit(offsets=[TopicPartition(f"missing-{topic}", 0, 5)], asynchronous=False)
        assert "UNKNOWN_TOPIC_OR_PART" in str(failure.value)
    finally:
        committer.close()


def test_the_internal_groups_topic_is_visible_but_not_writable(broker, topic):
    from confluent_kafka import Producer

    b = broker(config=GROUP_BROKER)
    metadata = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10)
    assert "__strait_groups" in metadata.topics
    errors = []
    producer = Producer({"bootstrap.servers": b.bootstrap, "message.send.max.retries": 0})
    producer.produce("__strait_groups", value=b"forged", on_delivery=lambda e, m: errors.append(e))
    producer.flush(10)
    assert errors and errors[0] is not None and "TOPIC_EXCEPTION" in errors[0].name()


def test_offsets_of_an_emptied_group_expire_and_stay_gone_after_a_restart(broker, topic):
    """Offset retention (KIP-211) with a 2 s retention checked every 200 ms: the offsets of a group
    whose member left expire ~2 s later and the group is deleted; a live group's offsets of its
    subscribed topic stay however old. After a restart (with the check interval raised so no
    check can run) the expired offsets are still gone: their tombstones were persisted."""
    retention_s = 2.0
    b = broker(config={**GROUP_BROKER, "offsets-retention-ms": int(retention_s * 1000),
                       "offsets-retention-check-interval-ms": 200})
    produce_numbered(b.bootstrap, topic, partitions=6, per_partition=5)
    partitions = [TopicPartition(topic, p) for p in range(6)]

    def committed(group: str) -> list[int]:
        reader = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
        try:
            return [tp.offset for tp in reader.committed(partitions, timeout=20)]
        finally:
            reader.close()

    def member(group: str) -> Consumer:
        consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                             "auto.offset.reset": "earliest", "session.timeout.ms": SESSION_TIMEOUT_MS,
                             "heartbeat.interval.ms": 500})
        consumer.subscribe([topic])
        wait_until(lambda: (consumer.poll(0.1), len(consumer.assignment()) == 6)[1], what=f"{group} assigned")
        consumer.commit(offsets=[TopicPartition(topic, p, 2) for p in range(6)], asynchronous=False)
        return consumer

    active_group, gone_group = f"active-{topic}", f"gone-{topic}"
    active = member(active_group)
    committed_at = time.monotonic()
    try:
        leaving = member(gone_group)
        assert committed(gone_group) == [2] * 6
        leaving.close()  # LeaveGroup: the group is Empty from now on
        emptied_at = time.monotonic()

        def expired() -> bool:
            active.poll(0.1)
            return committed(gone_group) == [OFFSET_INVALID] * 6
        wait_until(expired, what="the emptied group's offsets to expire")
        assert time.monotonic() - emptied_at >= retention_s - 0.3  # not before the retention (clock slack)
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        listed = {g.group_id for g in admin.list_consumer_groups().result(timeout=10).valid}
        assert gone_group not in listed and active_group in listed

        # The live group's commit is now well past the retention: it stays (subscribed topic).
        while time.monotonic() - committed_at < 2 * retention_s + 0.5:
            active.poll(0.1)
        assert committed(active_group) == [2] * 6

        b.restart(config={**b.config, "offsets-retention-check-interval-ms": 600000})
        assert committed(gone_group) == [OFFSET_INVALID] * 6
        assert committed(active_group) == [2] * 6
    finally:
        active.close()
