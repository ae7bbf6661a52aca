"""Consumer-group benchmarks against a release `strait broker` (docs/performance.md, issue 3).

1. Join to first record: a 6-partition topic holds 600 records; three confluent-kafka consumers
   in one new group subscribe at the same moment. Measured per run: the time from subscribe()
   (which sends FindCoordinator, then JoinGroup) until every member has fetched its first record.
   Run with Kafka's defaults (broker group-initial-rebalance-delay-ms 3000, client
   heartbeat.interval.ms 3000), then with no initial delay, then also with 100 ms heartbeats:
   those protocol timers, not the coordinator, dominate the figure by design.
2. Commit throughput from one client: a consumer in an empty group commits one partition's
   offset N times, synchronously (one round trip each) and asynchronously (librdkafka keeps
   several OffsetCommit requests in flight), then reads the last one back to check it.

Every figure is the median of --runs runs, each on a fresh broker and data directory.

    scripts/bench-groups.sh [--runs 5] [--commits 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broker_bench import REPO, Broker, machine  # noqa: E402

PARTITIONS = 6


def fill(bootstrap: str, topic: str) -> None:
    """Creates `topic` with 6 partitions and writes 100 records of 100 bytes to each."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list = []
    for partition in range(PARTITIONS):
        for n in range(100):
            producer.produce(topic, partition=partition, key=f"k{n}".encode(), value=b"v" * 100,
                             on_delivery=lambda error, _: failures.append(error) if error else None)
    assert producer.flush(30) == 0 and not failures, failures[:3]


def join_to_first_record(bootstrap: str, topic: str, group: str, heartbeat_ms: int) -> float:
    """Seconds from the three subscribe() calls until all three members have fetched a record."""
    consumers = [Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                           "enable.auto.commit": False, "session.timeout.ms": 10_000,
                           "heartbeat.interval.ms": heartbeat_ms})
                 for _ in range(3)]
    firsts: list[float] = [0.0] * 3
    start = threading.Barrier(3)
    t0 = [0.0]

    def member(index: int) -> None:
        start.wait()
        if index == 0:
            t0[0] = time.perf_counter()
        consumers[index].subscribe([topic])
        # Keep polling until every member has a record: a member that stopped polling would hold
        # up the next rebalance (its JoinGroup is sent from poll()).
        deadline = time.monotonic() + 60
        while not all(firsts) and time.monotonic() < deadline:
            message = consumers[index].poll(0.01)
            if message is not None and not message.error() and not firsts[index]:
                firsts[index] = time.perf_counter()

    threads = [threading.Thread(target=member, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for consumer in consumers:
        consumer.close()
    assert all(firsts), "every member fetched a record"
    return max(firsts) - t0[0]


def commit_rate(bootstrap: str, topic: str, group: str, commits: int, asynchronous: bool) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    failures: list = []
    done = [0]

    def committed(error, partitions):
        done[0] += 1
        if error is not None:
            failures.append(error)

    if asynchronous:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                             "on_commit": committed})
    consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)  # connect, find coordinator
    started = time.perf_counter()
    for n in range(1, commits + 1):
        consumer.commit(offsets=[TopicPartition(topic, 0, n)], asynchronous=asynchronous)
    if asynchronous:
        deadline = time.monotonic() + 120
        while done[0] < commits and time.monotonic() < deadline:
            consumer.poll(0.01)
        assert done[0] == commits, f"{done[0]} of {commits} async commits completed"
    elapsed = time.perf_counter() - started
    assert not failures, failures[:3]
    last = consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    assert last == commits, f"the last committed offset is {last}, expected {commits}"
    consumer.close()
    return commits / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--binary", default=str(REPO / ".build/release/strait"))
    args = parser.parse_args()

    # (broker group-initial-rebalance-delay-ms, client heartbeat.interval.ms): Kafka's defaults
    # are 3000 and 3000; members that joined an earlier generation learn of a rebalance from
    # their next heartbeat, so both timers show up in the figure.
    joins: dict[tuple[int, int], list[float]] = {(3000, 3000): [], (0, 3000): [], (0, 100): []}
    sync_rates, async_rates = [], []
    for run in range(args.runs):
        for delay, heartbeat in joins:
            broker = Broker(Path(args.binary), settings={"group-initial-rebalance-delay-ms": delay})
            try:
                topic = f"join-{run}"
                fill(broker.bootstrap, topic)
                seconds = join_to_first_record(broker.bootstrap, topic, f"g-{run}", heartbeat)
            finally:
                broker.stop()
            joins[(delay, heartbeat)].append(seconds)
            print(f"  run {run + 1}, initial rebalance delay {delay} ms, heartbeat {heartbeat} ms: "
                  f"join to first record {seconds * 1000:.0f} ms", flush=True)
        broker = Broker(Path(args.binary))
        try:
            fill(broker.bootstrap, "commits")
            sync_rates.append(commit_rate(broker.bootstrap, "commits", f"sync-{run}", args.commits // 4, False))
            async_rates.append(commit_rate(broker.bootstrap, "commits", f"async-{run}", args.commits, True))
        finally:
            broker.stop()
        print(f"  run {run + 1}: sync {sync_rates[-1]:,.0f} commits/s, async {async_rates[-1]:,.0f} commits/s", flush=True)

    print()
    print(f"Machine: {machine()}; median of {args.runs} runs")
    print()
    print("| measurement | median |")
    print("|---|---|")
    for (delay, heartbeat), values in joins.items():
        print(f"| JoinGroup to first record, 3 members, initial rebalance delay {delay} ms, "
              f"heartbeat.interval.ms {heartbeat} | {statistics.median(values) * 1000:.0f} ms |")
    print(f"| commits/s, one client, synchronous ({args.commits // 4:,} commits) | {statistics.median(sync_rates):,.0f} |")
    print(f"| commits/s, one client, asynchronous ({args.commits:,} commits) | {statistics.median(async_rates):,.0f} |")


if __name__ == "__main__":
    main()
