"""`strait replicator FILE` processes over a topology of external sites (the test's brokers)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from support.broker import free_port, strait_binary


def link_topology(sites: dict[str, str], links: list[dict], status_port: int | None = None) -> str:
    """YAML for external sites {name: bootstrap} and links [{from, to, ...options}]; the status
    endpoint on a free port unless given."""
    lines = ["name: test", "mode: custom", f"status: 127.0.0.1:{status_port or free_port()}", "sites:"]
    for name, bootstrap in sites.items():
        lines.append(f"  {name}:")
        lines.append(f"    kafka: {{ bootstrap: [\"{bootstrap}\"] }}")
    lines.append("links:")
    for link in links:
        first = True
        for key, value in link.items():
            prefix = "  - " if first else "    "
            first = False
            lines.append(f"{prefix}{key}: {value}")
    return "\n".join(lines) + "\n"


class Replicator:
    """One replicator process; its combined output goes to `log_path`."""

    def __init__(self, workdir: Path, topology: str, name: str = "replicator", prefix: list[str] | None = None):
        """`prefix`: run under it, e.g. ["ip", "netns", "exec", NS]."""
        self.prefix = prefix or []
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.topology_path = workdir / f"{name}.yaml"
        self.topology_path.write_text(topology)
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Replicator":
        with open(self.log_path, "ab") as log:
            log.write(b"\n=== start\n")
            log.flush()
            self.process = subprocess.Popen(self.prefix + [str(strait_binary()), "replicator", str(self.topology_path)],
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> int:
        if not self.process or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the replicator did not stop within 30 s of SIGTERM\n" + self.log()[-4000:])
