"""`strait groups list|describe` (the KafkaClient library) against a real broker, with a
confluent-kafka consumer group that commits known offsets."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from support.broker import free_port, strait_binary
from support.clients import confluent_produce
from support.records import Rec

BROKER_CONFIG = {"num-partitions": 3, "group-initial-rebalance-delay-ms": 100}
PER_PARTITION = {0: 10, 1: 20, 2: 30}
COMMITTED = {0: 4, 1: 20, 2: 7}
DEADLINE_S = 60.0


def strait_groups(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(strait_binary()), "groups", *args], capture_output=True, text=True, timeout=timeout)


def describe_json(bootstrap: str, group: str) -> dict:
    result = strait_groups("describe", group, "--bootstrap-server", bootstrap, "--output", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def produce(bootstrap: str, topic: str) -> None:
    confluent_produce(bootstrap, topic, {
        p: [Rec(None, f"p{p}-{n}".encode(), (), 1_700_000_000_000 + n) for n in range(count)]
        for p, count in PER_PARTITION.items()})


def joined_member(bootstrap: str, group: str, topic: str) -> Consumer:
    """A consumer that has joined `group`, owns every partition of `topic` and committed COMMITTED."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "cli-test-consumer",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    consumer.subscribe([topic])
    deadline = time.monotonic() + DEADLINE_S
    while len(consumer.assignment()) < 3 and time.monotonic() < deadline:
        consumer.poll(0.2)
    assert len(consumer.assignment()) == 3, "the consumer never got its partitions"
    consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in COMMITTED.items()], asynchronous=False)
    return consumer


def test_list_and_describe_report_offsets_and_lag(broker, topic):
    b = broker(config=BROKER_CONFIG)
    produce(b.bootstrap, topic)
    group = f"cli-{topic}"
    consumer = joined_member(b.bootstrap, group, topic)
    try:
        listed = strait_groups("list", "--bootstrap-server", b.bootstrap, "--output", "json")
        assert listed.returncode == 0, listed.stderr
        groups = {g["group"]: g for g in json.loads(listed.stdout)["groups"]}
        assert groups[group]["state"] == "Stable"
        assert groups[group]["protocol_type"] == "consumer"

        text = strait_groups("list", "--bootstrap-server", b.bootstrap)
        assert text.returncode == 0, text.stderr
        assert text.stdout.splitlines()[0].split() == ["GROUP", "STATE", "PROTOCOL-TYPE"]
        assert [group, "Stable", "consumer"] in [line.split() for line in text.stdout.splitlines()]

        described = describe_json(b.bootstrap, group)
        assert described["state"] == "Stable"
        assert described["protocol_type"] == "consumer"
        assert described["protocol"] in ("range", "roundrobin", "cooperative-sticky")
        [member] = described["members"]
        assert member["client_id"] == "cli-test-consumer"
        assert sorted(a["partition"] for a in member["assignment"]) == [0, 1, 2]
        rows = {row["partition"]: row for row in described["partitions"]}
        assert sorted(rows) == [0, 1, 2]
        for p in range(3):
            row = rows[p]
            assert row["topic"] == topic
            assert row["current_offset"] == COMMITTED[p]
            assert row["log_end_offset"] == PER_PARTITION[p]
            assert row["lag"] == PER_PARTITION[p] - COMMITTED[p]
            assert row["consumer_id"] == member["member_id"]
            assert row["client_id"] == "cli-test-consumer"
            assert row["host"] == member["host"]
        assert described["total_lag"] == sum(PER_PARTITION[p] - COMMITTED[p] for p in range(3))

        table = strait_groups("describe", group, "--bootstrap-server", b.bootstrap)
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("TOPIC"))
        assert lines[header].split() == ["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                                         "CONSUMER-ID", "HOST", "CLIENT-ID"]
        assert [line.split()[:5] for line in lines[header + 1:]] == [
            [topic, str(p), str(COMMITTED[p]), str(PER_PARTITION[p]), str(PER_PARTITION[p] - COMMITTED[p])]
            for p in range(3)]
    finally:
        consumer.close()

    # After the member leaves: an empty group that still has its committed offsets.
    deadline = time.monotonic() + DEADLINE_S
    while (described := describe_json(b.bootstrap, group))["state"] != "Empty" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert described["state"] == "Empty"
    assert described["members"] == []
    assert [(r["partition"], r["current_offset"], r["lag"], r["consumer_id"]) for r in described["partitions"]] == [
        (p, COMMITTED[p], PER_PARTITION[p] - COMMITTED[p], None) for p in range(3)]

    # More records raise the lag.
    confluent_produce(b.bootstrap, topic, {0: [Rec(None, b"more", (), 1_700_000_001_000)]})
    rows = {r["partition"]: r for r in describe_json(b.bootstrap, group)["partitions"]}
    assert rows[0]["log_end_offset"] == PER_PARTITION[0] + 1
    assert rows[0]["lag"] == PER_PARTITION[0] + 1 - COMMITTED[0]


def test_unknown_group_and_unreachable_broker_are_clear_errors(broker):
    b = broker(config=BROKER_CONFIG)
    missing = strait_groups("describe", "no-such-group", "--bootstrap-server", b.bootstrap)
    assert missing.returncode == 1
    assert "group 'no-such-group' does not exist" in missing.stderr

    empty = strait_groups("list", "--bootstrap-server", b.bootstrap, "--output", "json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {"groups": []}

    closed_port = free_port()
    unreachable = strait_groups("list", "--bootstrap-server", f"127.0.0.1:{closed_port}", timeout=60)
    assert unreachable.returncode == 1
    assert "cannot connect" in unreachable.stderr and f"127.0.0.1:{closed_port}" in unreachable.stderr

    bad = strait_groups("list", "--bootstrap-server", "127.0.0.1:notaport")
    assert bad.returncode != 0
    assert "port must be a number" in bad.stderr
