"""Broker throughput and memory, measured with real clients against a release `strait broker`.

For each record size (100 and 1,000 bytes): 1,000,000 records produced by the confluent-kafka
Python producer (acks=1, linger.ms=5, one partition), timed from the first produce() to the end
of flush(); then kcat consumes them back to /dev/null, timed. Produce latency is librdkafka's
own per-request round-trip time to the broker (statistics `brokers[].rtt`, one p99 per second of
the run; the median of those is reported), and the broker's CPU time (user + system, from /proc)
spent during the produce phase is reported per GB produced. The broker's resident memory is read
from /proc at idle (after start-up) and after the runs. Every figure is the median of --runs runs,
each on a fresh broker and data directory. Prints a Markdown table and the machine it ran on.

    scripts/bench-broker.sh [--runs 3] [--records 1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import json

from confluent_kafka import Producer

REPO = Path(__file__).resolve().parents[1]
READY = re.compile(r"strait broker listening on")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Broker:
    def __init__(self, binary: Path, settings: dict | None = None):
        """`settings`: broker config keys (docs/broker.md) written to a config file."""
        self.dir = Path(tempfile.mkdtemp(prefix="strait-bench-"))
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = open(self.dir / "broker.log", "wb")
        command = [str(binary), "broker", "--listen", self.bootstrap,
                   "--data-dir", str(self.dir / "data"), "--log-level", "warning"]
        if settings:
            config = self.dir / "broker.yaml"
            config.write_text("".join(f"{key}: {value}\n" for key, value in settings.items()))
            command += ["--config", str(config)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + 30
        line = b""
        while time.monotonic() < deadline and not READY.search(line.decode(errors="replace")):
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError("broker exited at start-up")
        time.sleep(1.0)  # settle before the idle reading

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def produce(bootstrap: str, topic: str, count: int, size: int) -> tuple[float, float]:
    """Returns the elapsed seconds and the median over the run's seconds of the p99 produce
    request round-trip time (ms) that librdkafka measured."""
    p99s: list[float] = []

    def stats(raw: str) -> None:
        for broker in json.loads(raw).get("brokers", {}).values():
            rtt = broker.get("rtt", {})
            if rtt.get("cnt", 0) > 0:
                p99s.append(rtt["p99"] / 1000)

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 5,
                         "queue.buffering.max.messages": 1_000_000, "queue.buffering.max.kbytes": 1_048_576,
                         "statistics.interval.ms": 1000, "stats_cb": stats})
    producer.produce(topic, partition=0, value=b"warm-up")  # creates the topic and connects
    producer.flush(30)
    value = os.urandom(size)
    p99s.clear()
    start = time.perf_counter()
    for sent in range(count):
        try:
            producer.produce(topic, partition=0, value=value)
        except BufferError:
            producer.poll(0.001)
            producer.produce(topic, partition=0, value=value)
        if sent % 10_000 == 0:
            producer.poll(0)  # serves the statistics callback
    remaining = producer.flush(300)
    elapsed = time.perf_counter() - start
    assert remaining == 0, f"{remaining} records not delivered"
    return elapsed, statistics.median(p99s) if p99s else float("nan")


def consume(bootstrap: str, topic: str, count: int) -> float:
    start = time.perf_counter()
    result = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
                             "-f", "%o\n"], capture_output=True, timeout=600, check=True)
    elapsed = time.perf_counter() - start
    lines = result.stdout.count(b"\n")
    assert lines == count + 1, f"kcat read {lines} records, expected {count + 1}"
    return elapsed


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} cores ({model}), {memory} RAM, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="100,1000", help="record sizes in bytes, comma-separated")
    parser.add_argument("--binary", default=str(REPO / ".build/release/strait"))
    args = parser.parse_args()

    rows = []
    idle = []
    for size in [int(size) for size in args.sizes.split(",")]:
        produce_rates, consume_rates, after, p99s, cpu_per_gb = [], [], [], [], []
        for run in range(args.runs):
            broker = Broker(Path(args.binary))
            try:
                idle.append(rss_mib(broker.process.pid))
                topic = f"bench-{size}-{run}"
                cpu_before = cpu_seconds(broker.process.pid)
                produce_s, p99 = produce(broker.bootstrap, topic, args.records, size)
                cpu = cpu_seconds(broker.process.pid) - cpu_before
                consume_s = consume(broker.bootstrap, topic, args.records)
                after.append(rss_mib(broker.process.pid))
            finally:
                broker.stop()
            produce_rates.append(args.records / produce_s)
            consume_rates.append(args.records / consume_s)
            p99s.append(p99)
            cpu_per_gb.append(cpu / (args.records * size / 1e9))
            print(f"  size {size} run {run + 1}: produce {args.records / produce_s:,.0f} rec/s, p99 {p99:.1f} ms, "
                  f"{cpu_per_gb[-1]:.2f} broker CPU s/GB, kcat consume {args.records / consume_s:,.0f} rec/s", flush=True)
        p, c = statistics.median(produce_rates), statistics.median(consume_rates)
        rows.append(f"| {size} B | {p:,.0f} rec/s ({p * size / 1e6:.0f} MB/s) | {statistics.median(p99s):.1f} ms "
                    f"| {statistics.median(cpu_per_gb):.2f} s | {c:,.0f} rec/s ({c * size / 1e6:.0f} MB/s) "
                    f"| {statistics.median(after):.0f} MiB |")
    print()
    print(f"Machine: {machine()}; {args.records:,} records per run, median of {args.runs} runs")
    print()
    print("| record size | produce (confluent-kafka, acks=1, linger.ms=5) | produce request p99 | broker CPU per GB produced "
          "| consume (kcat) | broker RSS after the run |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(f"Broker RSS at idle (after start-up): median {statistics.median(idle):.1f} MiB")


if __name__ == "__main__":
    main()
