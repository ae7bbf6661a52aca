"""One link's throughput, end-to-end latency and memory, with release `strait broker`s and a release
`strait replicator` on this machine (docs/performance.md, issue 5).

Throughput: the source topic (6 partitions) is filled with N records first; then the replicator
starts and is timed from the first record arriving at the target to the last (the catch-up rate).
Configurations, each at 100 and 1,000 bytes:
- uncompressed source, link `compression: lz4`, `offsets: translate` (batches recompressed)
- lz4 source passed through, `offsets: preserve` (StraitMirrorAppend, batches byte for byte)
- lz4 source passed through, `offsets: translate` (produced as they are, offsets mapped)
Latency: with the link running, a producer writes 5,000 records/s for --latency-seconds; a
consumer at the target takes (arrival time − record timestamp) for each record; p50 and p99.
Memory: the replicator's VmRSS, sampled every 100 ms; the peak per run, and at idle.
Every figure is the median of --runs runs, each on fresh brokers.

    scripts/bench-replicator.sh [--runs 3] [--records 1000000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broker_bench import REPO, Broker, free_port, machine, rss_mib  # noqa: E402

PARTITIONS = 6


def topology(east: str, west: str, status_port: int, **link) -> str:
    options = "".join(f"\n    {key}: {value}" for key, value in link.items())
    return f"""name: bench
mode: custom
status: 127.0.0.1:{status_port}
sites:
  east:
    kafka: {{ bootstrap: ["{east}"] }}
  west:
    kafka: {{ bootstrap: ["{west}"] }}
links:
  - from: east
    to: west
    naming: prefix
    refresh-interval-ms: 500{options}
"""


class ReplicatorProcess:
    def __init__(self, binary: Path, topology_text: str):
        self.dir = Path(tempfile.mkdtemp(prefix="strait-bench-replicator-"))
        (self.dir / "topology.yaml").write_text(topology_text)
        self.log = open(self.dir / "replicator.log", "wb")
        self.process = subprocess.Popen([str(binary), "replicator", str(self.dir / "topology.yaml"), "--log-level", "warning"],
                                        stdout=self.log, stderr=self.log)
        self.peak_rss = 0.0
        self.sampling = True
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def _sample(self) -> None:
        while self.sampling and self.process.poll() is None:
            try:
                self.peak_rss = max(self.peak_rss, rss_mib(self.process.pid))
            except FileNotFoundError:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        self.sampling = False
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


def create(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)


def fill(bootstrap: str, topic: str, count: int, size: int, codec: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                         "compression.type": codec, "queue.buffering.max.messages": 2_000_000,
                         "queue.buffering.max.kbytes": 2_097_151})
    # 1,000 distinct values of random hex text; a value repeats only 1,000 records later, beyond
    # LZ4's 64 KiB window, so batches do not compress better than their records do (LZ4, which
    # has no entropy coder, finds almost nothing to remove: the compressed batches are about
    # as large as the values).
    values = [os.urandom(size // 2 + 1).hex().encode()[:size] for _ in range(1000)]
    for n in range(count):
        while True:
            try:
                producer.produce(topic, partition=n % PARTITIONS, value=values[n % 1000])
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(300) == 0


class Watermarks:
    """End offsets of a topic's partitions, through one long-lived consumer."""

    def __init__(self, bootstrap: str):
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})

    def ends(self, topic: str) -> list[int]:
        try:
            return [self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                    for p in range(PARTITIONS)]
        except Exception:
            return [0] * PARTITIONS

    def close(self) -> None:
        self.consumer.close()


def stored_bytes(broker: Broker, topic: str) -> int:
    """Bytes of the topic's segment files: the batches as stored, so as fetched and mirrored."""
    return sum(path.stat().st_size for path in (broker.dir / "data").glob(f"{topic}-*/*.log"))


class DelayedBroker(Broker):
    """A broker behind a `strait delay-link` relay: it advertises the relay's port, so every
    connection (the replicator's, the producer's, the offset reader's) crosses the delay."""

    def __init__(self, binary: Path, delay_ms: int):
        relay_port = free_port()
        super().__init__(binary, settings={"advertised-port": relay_port})
        self.relay = subprocess.Popen([str(binary), "delay-link", "--listen", f"127.0.0.1:{relay_port}",
                                       "--target", self.bootstrap, "--delay-ms", str(delay_ms)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.bootstrap = f"127.0.0.1:{relay_port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", relay_port)) == 0:
                    break
            time.sleep(0.05)

    def stop(self) -> None:
        self.relay.terminate()
        self.relay.wait(timeout=30)
        super().stop()


def throughput_run(binary: Path, records: int, size: int, source_codec: str, link: dict,
                   delay_ms: int = 0) -> tuple[float, float, float]:
    """(records/s, stored source bytes/s, replicator peak RSS MiB) for one catch-up of `records`
    records, timed from the replicator's start (its start-up included) to the last record at the
    target. `delay_ms`: each broker behind a relay adding that one-way delay."""
    east, west = (DelayedBroker(binary, delay_ms), DelayedBroker(binary, delay_ms)) if delay_ms else (Broker(binary), Broker(binary))
    replicator = None
    try:
        create(east.bootstrap, "bench")
        fill(east.bootstrap, "bench", records, size, source_codec)
        source_bytes = stored_bytes(east, "bench")
        source, target = Watermarks(east.bootstrap), Watermarks(west.bootstrap)
        wanted = source.ends("bench")
        started = time.perf_counter()
        replicator = ReplicatorProcess(binary, topology(east.bootstrap, west.bootstrap, free_port(), **link))
        deadline = time.monotonic() + 600
        while target.ends("east.bench") != wanted:
            if time.monotonic() > deadline:
                raise RuntimeError("the link did not catch up in 600 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        source.close()
        target.close()
        return records / elapsed, source_bytes / elapsed, replicator.peak_rss
    finally:
        if replicator:
            replicator.stop()
        east.stop()
        west.stop()


def latency_run(binary: Path, seconds: float, rate: int) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, idle RSS MiB) at `rate` records/s through a running link (preserve mode)."""
    east, west = Broker(binary), Broker(binary)
    replicator = None
    try:
        create(east.bootstrap, "latency")
        replicator = ReplicatorProcess(binary, topology(east.bootstrap, west.bootstrap, free_port()))
        consumer = Consumer({"bootstrap.servers": west.bootstrap, "group.id": "latency", "fetch.wait.max.ms": 5,
                             "fetch.min.bytes": 1, "auto.offset.reset": "earliest", "enable.auto.commit": False})
        warm = Producer({"bootstrap.servers": east.bootstrap})
        for p in range(PARTITIONS):
            warm.produce("latency", partition=p, value=b"warm-up")
        warm.flush(30)
        target = Watermarks(west.bootstrap)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(target.ends("east.latency")) < PARTITIONS:
            time.sleep(0.1)
        target.close()
        consumer.assign([TopicPartition("east.latency", p, 0) for p in range(PARTITIONS)])
        idle_rss = rss_mib(replicator.process.pid)
        delays: list[float] = []
        stop = threading.Event()

        def consume() -> None:
            while not stop.is_set():
                # poll() returns each record as soon as it is there (consume(n) would wait for n).
                message = consumer.poll(0.05)
                if message is None or message.error() or message.value() == b"warm-up":
                    continue
                delays.append(time.time() * 1000 - message.timestamp()[1])

        # The consumer must be fetching before the clock starts: read the warm-up records first.
        warmed = 0
        deadline = time.monotonic() + 30
        while warmed < PARTITIONS and time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None and not message.error():
                warmed += 1
        reader = threading.Thread(target=consume)
        reader.start()
        producer = Producer({"bootstrap.servers": east.bootstrap, "linger.ms": 0})
        interval = 1.0 / rate
        started = time.perf_counter()
        sent = 0
        while time.perf_counter() - started < seconds:
            due = started + sent * interval
            now = time.perf_counter()
            if now < due:
                time.sleep(min(due - now, 0.001))
                continue
            producer.produce("latency", partition=sent % PARTITIONS, value=b"x" * 100, timestamp=int(time.time() * 1000))
            producer.poll(0)
            sent += 1
        producer.flush(30)
        time.sleep(2)
        stop.set()
        reader.join()
        consumer.close()
        measured = sorted(delays)
        assert len(measured) == sent, f"{len(measured)} of {sent} records arrived"
        return (statistics.median(measured), measured[int(len(measured) * 0.99)], idle_rss)
    finally:
        if replicator:
            replicator.stop()
        east.stop()
        west.stop()


def delayed_runs(binary: Path, args) -> None:
    print(f"Machine: {machine()}; {args.records:,} records of 1,000 B, lz4 source, {args.delay_ms} ms one-way delay "
          f"in front of both brokers, median of {args.runs} runs")
    for mode in ("preserve", "translate"):
        rates = [throughput_run(binary, args.records, 1000, "lz4", {"offsets": mode}, delay_ms=args.delay_ms)[0]
                 for _ in range(args.runs)]
        print(f"  {mode}: {statistics.median(rates):,.0f} records/s (runs: {', '.join(f'{r:,.0f}' for r in rates)})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument("--binary", default=str(REPO / ".build/release/strait"))
    parser.add_argument("--delay-ms", type=int, default=0,
                        help="only the delayed-link catch-up: 1,000 B records, lz4 source, preserve and translate, "
                             "each broker behind a strait delay-link of this one-way delay")
    args = parser.parse_args()
    binary = Path(args.binary)
    if args.delay_ms:
        delayed_runs(binary, args)
        return

    configurations = [
        ("uncompressed source, link lz4, translate", "none", {"offsets": "translate", "compression": "lz4"}),
        ("lz4 source passed through, preserve", "lz4", {"offsets": "preserve"}),
        ("lz4 source passed through, translate", "lz4", {"offsets": "translate"}),
    ]
    rows = []
    peaks = []
    for size in (100, 1000):
        for name, codec, link in configurations:
            rates, wire = [], []
            for run in range(args.runs):
                rate, byte_rate, peak = throughput_run(binary, args.records, size, codec, link)
                rates.append(rate)
                wire.append(byte_rate)
                peaks.append(peak)
                print(f"  {size} B, {name}, run {run + 1}: {rate:,.0f} records/s, {byte_rate / 1e6:.0f} MB/s of stored batches, "
                      f"replicator peak RSS {peak:.0f} MiB", flush=True)
            median = statistics.median(rates)
            rows.append(f"| {size} B | {name} | {median:,.0f} | {median * size / 1e6:.0f} | {statistics.median(wire) / 1e6:.0f} |")
    latencies = [latency_run(binary, args.latency_seconds, 5000) for _ in range(args.runs)]
    for p50, p99, idle in latencies:
        print(f"  latency at 5,000 records/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms, replicator idle RSS {idle:.0f} MiB", flush=True)

    print()
    print(f"Machine: {machine()}; {args.records:,} records per throughput run, median of {args.runs} runs")
    print()
    print("| record size | configuration | records/s | MB/s of record values | MB/s of source batches (as stored) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(f"End-to-end latency at 5,000 records/s (100 B, preserve): p50 {statistics.median(l[0] for l in latencies):.1f} ms, "
          f"p99 {statistics.median(l[1] for l in latencies):.1f} ms")
    print(f"Replicator RSS: idle {statistics.median(l[2] for l in latencies):.0f} MiB, "
          f"peak during throughput runs {max(peaks):.0f} MiB (median of peaks {statistics.median(peaks):.0f} MiB)")


if __name__ == "__main__":
    main()
