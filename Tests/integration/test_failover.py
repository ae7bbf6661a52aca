"""Failover and drills between two real brokers (docs/failover.md).

- `strait failover FILE --to west` (planned) over a disaster-recovery link (identity naming,
  preserved offsets): the primary's producers are fenced, the link drains, the group's offsets
  arrive exactly, the mirror topic is promoted, the link stops and says why; consumers resume at
  west by changing only their bootstrap servers, re-reading and skipping nothing; a second
  failover is refused; `--dry-run` changes nothing.
- `strait drill` on embedded sites, planned and unplanned, reports the fields docs/failover.md
  promises; a planned drill loses, re-reads and skips nothing.
"""

from __future__ import annotations

import json
import subprocess
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from support.broker import free_port, strait_binary
from support.replicator import Replicator, link_topology
from test_replicator import create_topic, end_offsets, wait_until

PARTITIONS = 2
RECORDS = 300


def dr_link() -> dict:
    return {"from": "east", "to": "west", "naming": "identity", "offsets": "preserve",
            "refresh-interval-ms": 500, "checkpoint-interval-ms": 500}


def strait(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(strait_binary()), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def produce(bootstrap: str, topic: str, keys: range) -> list[KafkaError | None]:
    """One record per key, key % PARTITIONS its partition; the delivery error of each (None: acknowledged)."""
    errors: list[KafkaError | None] = [None] * len(keys)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 10_000, "retries": 0})
    for index, key in enumerate(keys):
        def report(error, _message, index=index):
            errors[index] = error
        producer.produce(topic, key=str(key).encode(), value=b"v%d" % key, partition=key % PARTITIONS,
                         on_delivery=report)
    producer.flush(30)
    return errors


def consume(bootstrap: str, topic: str, group: str, count: int | None) -> list[int]:
    """Keys the group reads from its committed offsets, committing each; `count` of them, or until
    the end offsets."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    ends = end_offsets(bootstrap, topic, PARTITIONS)
    keys: list[int] = []
    positions = {p: -1 for p in range(PARTITIONS)}
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if count is not None and len(keys) >= count:
                break
            if count is None and all(positions[p] + 1 >= ends[p] for p in range(PARTITIONS)):
                break
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            keys.append(int(message.key()))
            positions[message.partition()] = message.offset()
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    return keys


def committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}
    finally:
        consumer.close()


def test_a_planned_failover_fences_drains_promotes_and_the_group_resumes_exactly(broker, topic, tmp_path):
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic, PARTITIONS)
    assert produce(east.bootstrap, topic, range(RECORDS)) == [None] * RECORDS
    consumed_at_east = consume(east.bootstrap, topic, "billing", 120)
    port = free_port()
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [dr_link()], status_port=port)).start()
    topology = str(replicator.topology_path)
    try:
        wait_until(lambda: end_offsets(west.bootstrap, topic, PARTITIONS) == end_offsets(east.bootstrap, topic, PARTITIONS),
                   "the standby to hold every record", log=replicator.log)
        # Until promoted, the standby's topic refuses producers (a read-only mirror).
        [refused] = produce(west.bootstrap, topic, range(10_000, 10_001))
        assert refused is not None and refused.code() == KafkaError.TOPIC_EXCEPTION, refused

        dry = strait("failover", topology, "--to", "west", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "dry run: nothing was changed" in dry.stdout
        for step in ["check-previous", "fence", "drain", "final-group-sync", "promote", "record", "stop-link"]:
            assert f". {step}: " in dry.stdout, dry.stdout
        assert produce(east.bootstrap, topic, range(RECORDS, RECORDS + 10)) == [None] * 10, "the dry run fenced"

        committed_at_east = committed(east.bootstrap, topic, "billing")
        result = strait("failover", topology, "--to", "west", "--output", "json")
        assert result.returncode == 0, result.stderr + replicator.log()[-3000:]
        report = json.loads(result.stdout)
        record = report["record"]
        assert (record["from"], record["to"], record["kind"], record["offsets"]) == ("east", "west", "planned", "preserve")
        ends = end_offsets(east.bootstrap, topic, PARTITIONS)
        assert sorted((p["partition"], p["mirroredOffset"], p["mayBeLost"]) for p in record["points"]) \
            == [(p, ends[p], 0) for p in range(PARTITIONS)]
        assert [s["step"] for s in report["steps"]] == \
            ["check-previous", "fence", "drain", "final-group-sync", "promote", "record", "stop-link"]
        assert report["notes"] == [], report["notes"]

        # The old primary's producers are fenced, with a message naming the failover.
        [fenced] = produce(east.bootstrap, topic, range(20_000, 20_001))
        assert fenced is not None and fenced.code() == KafkaError.TOPIC_EXCEPTION, fenced
        # The standby takes producers after the mirrored records, and the group resumes there at
        # its exact offsets: nothing read twice, nothing skipped.
        assert produce(west.bootstrap, topic, range(30_000, 30_010)) == [None] * 10
        resumed = consume(west.bootstrap, topic, "billing", None)
        expected = sorted(set(range(RECORDS + 10)) - set(consumed_at_east)) + list(range(30_000, 30_010))
        assert sorted(resumed) == sorted(expected)
        assert sorted((g["group"], g["topic"], g["partition"], g["offset"]) for g in record["groups"]) \
            == [("billing", topic, p, offset) for p, offset in sorted(committed_at_east.items())]

        status = strait("status", topology)
        assert status.returncode == 2 and f"stopped by failover {record['id']}" in status.stdout, status.stdout
        again = strait("failover", topology, "--to", "west")
        assert again.returncode == 1
        assert f"failover {record['id']} (planned, east → west) is recorded at west and was not failed back" in again.stderr
        # A replicator started again reads the record and does not write into the promoted topic.
        replicator.stop()
        replicator.start()
        wait_until(lambda: f"link east->west stopped: failover {record['id']}" in replicator.log().split("=== start")[-1],
                   "the restarted link to refuse", log=replicator.log)
        assert end_offsets(west.bootstrap, topic, PARTITIONS) == [e + 5 for e in ends]
    finally:
        replicator.stop()


def drill_topology(tmp_path, checkpoint_ms: int = 1000) -> str:
    status, east, west = free_port(), free_port(), free_port()
    text = f"""name: drill-test
mode: active-passive
status: 127.0.0.1:{status}
sites:
  east:
    broker: {{ listen: 127.0.0.1:{east}, data-dir: data/east }}
  west:
    broker: {{ listen: 127.0.0.1:{west}, data-dir: data/west }}
links:
  - from: east
    to: west
    topics: {{ include: ["orders.*"] }}
    naming: identity
    offsets: preserve
    refresh-interval-ms: 1000
    checkpoint-interval-ms: {checkpoint_ms}
"""
    path = tmp_path / "drill.yaml"
    path.write_text(text)
    return str(path)


DRILL_FIELDS = ["acknowledged_lost", "rpo_records", "rpo_seconds", "reread", "skipped", "rto_seconds", "failover"]


def test_a_planned_drill_loses_rereads_and_skips_nothing(tmp_path):
    result = strait("drill", drill_topology(tmp_path), "--kind", "planned", "--rate", "400", "--warmup", "3",
                    "--after", "2", "--output", "json", "--max-rpo-records", "0", timeout=180)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for field in DRILL_FIELDS:
        assert field in figures, field
    assert (figures["acknowledged_lost"], figures["reread"], figures["skipped"]) == (0, 0, 0), figures
    assert figures["rpo_records"] == 0
    assert figures["produced_at_primary"] > 0 and figures["produced_at_standby"] > 0
    assert figures["rto_seconds"] is not None and figures["rto_seconds"] > 0
    assert [s["step"] for s in figures["failover"]["steps"]][1:4] == ["fence", "drain", "final-group-sync"]


def test_an_unplanned_drill_kills_the_primary_and_reports_what_was_lost(tmp_path):
    rate, checkpoint_ms = 400, 1000
    result = strait("drill", drill_topology(tmp_path, checkpoint_ms), "--kind", "unplanned", "--rate", str(rate),
                    "--warmup", "4", "--after", "2", "--output", "json", timeout=180)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for field in DRILL_FIELDS:
        assert field in figures, field
    assert figures["skipped"] == 0
    # The group resumes from the last group offset sync: at most a checkpoint interval of records
    # (and the fetch in flight) is read again.
    assert figures["reread"] <= rate * (checkpoint_ms / 1000) * 2 + 100, figures
    assert figures["rto_seconds"] is not None
    assert [s["step"] for s in figures["failover"]["steps"]][1] == "assess-loss"
    # An acknowledged record is lost only if the link had not mirrored it: far fewer than were written.
    assert figures["acknowledged_lost"] < figures["produced_at_primary"] / 10


def test_failback_says_it_is_not_built_yet(tmp_path):
    result = strait("failback", drill_topology(tmp_path), "--to", "east")
    assert result.returncode == 1
    assert "strait failback is not built yet" in result.stderr
