"""Failover drills measured (docs/performance.md, issue 13): `strait drill --kind unplanned` at
1,000 and 10,000 records/s, on loopback and over a link delayed 20 ms each way.

- loopback: a disaster-recovery topology of two embedded sites (identity naming, preserved
  offsets, checkpoints every second) on free ports; the drill runs both sites itself and kills
  the primary's process (-9).
- delayed: release `strait broker`s for both sites and `strait delay-link` (20 ms one way) in
  front of the primary; the topology names both as external sites, the primary through the
  delay; the drill's producer and consumers and the link all reach the primary through it, and
  `--take-down` kills the primary broker (-9).

Per configuration: the median (and range) of --runs drills of rto_seconds, acknowledged_lost,
rpo_records, rpo_seconds and reread.

    scripts/bench-drill.sh [--runs 3] [--warmup 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broker_bench import REPO, Broker, free_port, machine  # noqa: E402

BINARY = REPO / ".build" / "release" / "strait"
FIELDS = ["rto_seconds", "acknowledged_lost", "rpo_records", "rpo_seconds", "reread"]


def embedded_topology(directory: Path) -> Path:
    path = directory / "dr.yaml"
    path.write_text(f"""name: drill-bench
mode: active-passive
status: 127.0.0.1:{free_port()}
sites:
  east:
    broker: {{ listen: 127.0.0.1:{free_port()}, data-dir: data/east }}
  west:
    broker: {{ listen: 127.0.0.1:{free_port()}, data-dir: data/west }}
links:
  - from: east
    to: west
    topics: {{ include: ["orders.*"] }}
    naming: identity
    offsets: preserve
    refresh-interval-ms: 1000
    checkpoint-interval-ms: 1000
""")
    return path


def external_topology(directory: Path, east: str, west: str) -> Path:
    path = directory / "dr-delayed.yaml"
    path.write_text(f"""name: drill-bench-delayed
mode: active-passive
status: 127.0.0.1:{free_port()}
sites:
  east:
    kafka: {{ bootstrap: ["{east}"] }}
  west:
    kafka: {{ bootstrap: ["{west}"] }}
links:
  - from: east
    to: west
    topics: {{ include: ["orders.*"] }}
    naming: identity
    offsets: preserve
    refresh-interval-ms: 1000
    checkpoint-interval-ms: 1000
""")
    return path


def drill(topology: Path, rate: int, warmup: float, extra: list[str]) -> dict:
    command = [str(BINARY), "drill", str(topology), "--kind", "unplanned", "--rate", str(rate),
               "--warmup", str(warmup), "--after", "3", "--topic", "orders.drill", "--output", "json", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"drill failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def delayed_drill(rate: int, warmup: float) -> dict:
    west = Broker(BINARY)
    relay_port = free_port()
    east = Broker(BINARY, {"advertised-host": "127.0.0.1", "advertised-port": relay_port})
    relay = subprocess.Popen([str(BINARY), "delay-link", "--listen", f"127.0.0.1:{relay_port}", "--target",
                              east.bootstrap, "--delay-ms", "20"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    relay.stdout.readline()
    try:
        with tempfile.TemporaryDirectory(prefix="strait-drill-bench-") as scratch:
            topology = external_topology(Path(scratch), f"127.0.0.1:{relay_port}", west.bootstrap)
            return drill(topology, rate, warmup, ["--take-down", f"kill -9 {east.process.pid}",
                                                  "--data-root", scratch])
    finally:
        relay.kill()
        relay.wait()
        for broker in (east, west):
            if broker.process.poll() is None:
                broker.stop()


def loopback_drill(rate: int, warmup: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="strait-drill-bench-") as scratch:
        return drill(embedded_topology(Path(scratch)), rate, warmup, [])


def summary(runs: list[dict]) -> str:
    cells = []
    for field in FIELDS:
        values = [run[field] for run in runs if run[field] is not None]
        if not values:
            cells.append(f"{field} n/a")
            continue
        median = statistics.median(values)
        low, high = min(values), max(values)
        shown = (lambda v: f"{v:.2f}") if isinstance(values[0], float) else (lambda v: f"{v:g}")
        cells.append(f"{field} {shown(median)} [{shown(low)}–{shown(high)}]")
    return ", ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=6)
    parser.add_argument("--rates", default="1000,10000")
    arguments = parser.parse_args()
    print(f"machine: {machine()}")
    for network, run in (("loopback", loopback_drill), ("20 ms delayed link", delayed_drill)):
        for rate in (int(r) for r in arguments.rates.split(",")):
            results = [run(rate, arguments.warmup) for _ in range(arguments.runs)]
            print(f"{network}, {rate} records/s, {arguments.runs} runs: {summary(results)}", flush=True)


if __name__ == "__main__":
    main()
