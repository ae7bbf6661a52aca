"""TLS against plaintext, side by side in one run (docs/performance.md, issue 6).

1. Produce: one release broker with a PLAINTEXT and an SSL listener (a certificate made with the
   openssl command line); the confluent-kafka producer writes N records of 1,000 bytes (acks=1)
   through each listener in turn, alternating, --runs times each.
2. One link: two brokers, each with a PLAINTEXT and an SSL listener; the source is filled with N
   records of 1,000 bytes, and a release replicator catches up over plaintext sites, then over
   SSL sites (each on fresh brokers), alternating.
3. The TLS handler alone: `strait bench tls` pushes plaintext through a client and a server
   OpenSSLHandler in one process and compares it with the bare AES-GCM cipher.
Prints medians and the TLS cost (1 − TLS rate / plaintext rate).

    scripts/bench-tls.sh [--runs 5] [--records 300000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "integration"))
from broker_bench import REPO, Broker, free_port, machine  # noqa: E402
from replicator_bench import PARTITIONS, ReplicatorProcess, Watermarks, create  # noqa: E402
from support.certs import make_certificates  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tls_broker(binary: Path, certs) -> tuple[Broker, str]:
    port = free_port()
    settings = {
        "tls": '{"cert-file": "%s", "key-file": "%s"}' % (certs.path("server.pem"), certs.path("server.key")),
        "listeners": '[{"name": "SSL", "listen": "127.0.0.1:%d", "protocol": "ssl"}]' % port,
    }
    return Broker(binary, settings=settings), f"127.0.0.1:{port}"


def client_settings(bootstrap: str, certs, tls: bool) -> dict:
    settings = {"bootstrap.servers": bootstrap}
    if tls:
        settings.update({"security.protocol": "SSL", "ssl.ca.location": certs.path("ca.pem")})
    return settings


def produce(settings: dict, topic: str, count: int, size: int, broker_pid: int) -> tuple[float, float]:
    """Records/s, and the broker's CPU seconds per GB of records."""
    producer = Producer({**settings, "acks": "1", "linger.ms": 5, "queue.buffering.max.messages": 1_000_000,
                         "queue.buffering.max.kbytes": 1_048_576})
    producer.produce(topic, partition=0, value=b"warm-up")
    producer.flush(30)
    value = os.urandom(size)
    broker_before = cpu_seconds(broker_pid)
    started = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, partition=0, value=value)
                break
            except BufferError:
                producer.poll(0.001)
    assert producer.flush(300) == 0
    elapsed = time.perf_counter() - started
    return count / elapsed, (cpu_seconds(broker_pid) - broker_before) / (count * size / 1e9)


def link_run(binary: Path, certs, records: int, tls: bool) -> tuple[float, float]:
    """Records/s, and CPU seconds per GB of records spent by the two brokers and the replicator."""
    (east, east_ssl), (west, west_ssl) = tls_broker(binary, certs), tls_broker(binary, certs)
    replicator = None
    try:
        create(east.bootstrap, "bench")
        producer = Producer({"bootstrap.servers": east.bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                             "queue.buffering.max.messages": 2_000_000, "queue.buffering.max.kbytes": 2_097_151})
        values = [os.urandom(500).hex().encode() for _ in range(1000)]
        for n in range(records):
            while True:
                try:
                    producer.produce("bench", partition=n % PARTITIONS, value=values[n % 1000])
                    break
                except BufferError:
                    producer.poll(0.01)
        assert producer.flush(300) == 0
        wanted = Watermarks(east.bootstrap).ends("bench")
        target = Watermarks(west.bootstrap)
        security = f"security: {{ protocol: ssl, ca-file: {certs.path('ca.pem')} }}" if tls else ""
        source, sink = (east_ssl, west_ssl) if tls else (east.bootstrap, west.bootstrap)
        topology = f"""name: bench
mode: custom
status: 127.0.0.1:{free_port()}
sites:
  east:
    kafka: {{ bootstrap: ["{source}"] {(", " + security) if tls else ""} }}
  west:
    kafka: {{ bootstrap: ["{sink}"] {(", " + security) if tls else ""} }}
links:
  - {{ from: east, to: west, naming: prefix, refresh-interval-ms: 500, offsets: preserve }}
"""
        brokers_before = cpu_seconds(east.process.pid) + cpu_seconds(west.process.pid)
        started = time.perf_counter()
        replicator = ReplicatorProcess(binary, topology)
        deadline = time.monotonic() + 600
        while target.ends("east.bench") != wanted:
            if time.monotonic() > deadline:
                raise RuntimeError("the link did not catch up\n" + (replicator.dir / "replicator.log").read_text()[-2000:])
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(east.process.pid) + cpu_seconds(west.process.pid) - brokers_before + cpu_seconds(replicator.process.pid)
        return records / elapsed, cpu / (records * 1000 / 1e9)
    finally:
        if replicator:
            replicator.stop()
        east.stop()
        west.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--binary", default=str(REPO / ".build/release/strait"))
    args = parser.parse_args()
    binary = Path(args.binary)
    certs = make_certificates(Path(tempfile.mkdtemp(prefix="strait-bench-certs-")))

    produce_rates = {False: [], True: []}
    produce_cpu = {False: [], True: []}
    for run in range(args.runs):
        broker, ssl = tls_broker(binary, certs)
        try:
            for tls in (False, True):
                bootstrap = ssl if tls else broker.bootstrap
                rate, cpu = produce(client_settings(bootstrap, certs, tls), f"produce-{run}-{int(tls)}", args.records, 1000,
                                    broker.process.pid)
                produce_rates[tls].append(rate)
                produce_cpu[tls].append(cpu)
                print(f"  run {run + 1}, produce over {'SSL' if tls else 'PLAINTEXT'}: {rate:,.0f} records/s ({rate / 1000:,.0f} MB/s), "
                      f"broker {cpu:.2f} CPU s/GB", flush=True)
        finally:
            broker.stop()
    link_rates = {False: [], True: []}
    link_cpu = {False: [], True: []}
    for run in range(args.runs):
        for tls in (False, True):
            rate, cpu = link_run(binary, certs, args.records, tls)
            link_rates[tls].append(rate)
            link_cpu[tls].append(cpu)
            print(f"  run {run + 1}, link over {'SSL' if tls else 'PLAINTEXT'}: {rate:,.0f} records/s ({rate / 1000:,.0f} MB/s), "
                  f"brokers and replicator {cpu:.2f} CPU s/GB", flush=True)

    # 3. The handler alone against the bare cipher, in one process (strait bench tls).
    handler = subprocess.run([str(binary), "bench", "tls", "--cert-file", certs.path("server.pem"),
                              "--key-file", certs.path("server.key"), "--ca-file", certs.path("ca.pem"),
                              "--megabytes", "256", "--runs", str(max(args.runs, 3))],
                             capture_output=True, text=True, check=True)

    print()
    print(f"Machine: {machine()}; {args.records:,} records of 1,000 B per run, median of {args.runs} runs")
    print()
    print("| | PLAINTEXT | SSL (TLS 1.3) | TLS cost |")
    print("|---|---|---|---|")
    for name, rates in (("produce, one client (records/s)", produce_rates), ("one link, catch-up (records/s)", link_rates)):
        plain, tls = statistics.median(rates[False]), statistics.median(rates[True])
        print(f"| {name} | {plain:,.0f} | {tls:,.0f} | {100 * (1 - tls / plain):.1f}% |")
    for name, cpus in (("produce: broker CPU s per GB", produce_cpu), ("link: brokers + replicator CPU s per GB", link_cpu)):
        plain, tls = statistics.median(cpus[False]), statistics.median(cpus[True])
        print(f"| {name} | {plain:.2f} | {tls:.2f} | +{100 * (tls / plain - 1):.0f}% |")
    print()
    print(handler.stdout.strip())


if __name__ == "__main__":
    main()
