"""A real `strait broker` process for a test: start, wait until ready, stop, kill -9, restart.

The broker contract these tests rely on:
  strait broker --listen HOST:PORT --data-dir DIR [--config FILE]
  prints one line when ready:
    strait broker listening on HOST:PORT (node 0, cluster <id>, data dir <dir>)
  SIGTERM / SIGINT: graceful shutdown, exit code 0.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

READY_LINE = re.compile(
    r"strait broker listening on (?P<host>\S+):(?P<port>\d+) "
    r"\(node (?P<node>-?\d+), cluster (?P<cluster>\S+), data dir (?P<data_dir>.+)\)"
)

STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 30.0


def strait_binary() -> Path:
    """STRAIT_BIN, or .build/debug/strait; a relative path is taken from the repo root."""
    path = Path(os.environ.get("STRAIT_BIN", ".build/debug/strait"))
    return path if path.is_absolute() else REPO_ROOT / path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def to_yaml(config: dict) -> str:
    """YAML for the broker config: values are bools, numbers and strings; lists and mappings
    (listeners, tls) are written in flow style."""
    import json

    lines = []
    for key, value in config.items():
        if isinstance(value, (list, dict)):
            rendered = json.dumps(value)  # JSON is YAML flow style
        elif isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, (int, float)):
            rendered = str(value)
        else:
            rendered = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key}: {rendered}")
    return "\n".join(lines) + "\n"


class BrokerError(AssertionError):
    pass


class Broker:
    """One broker process. `bootstrap` is "127.0.0.1:PORT"; the port and data dir survive restarts."""

    def __init__(self, workdir: Path, name: str, config: dict | None = None,
                 netns: str | None = None, host: str | None = None, port: int | None = None):
        """`netns`: run inside that network namespace (then give `host`, an address there)."""
        self.name = name
        self.netns = netns
        self.host = host or "127.0.0.1"
        self.port = port or free_port()
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "broker.log"
        self.config_path = workdir / "broker.yaml"
        self.config = dict(config or {})
        self.process: subprocess.Popen | None = None
        self.cluster_id: str | None = None
        self.node_id: int | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # --- lifecycle ---

    def start(self) -> "Broker":
        binary = strait_binary()
        if not binary.exists():
            raise BrokerError(f"no broker binary at {binary} (build it, or set STRAIT_BIN)")
        command = [str(binary), "broker", "--listen", self.bootstrap, "--data-dir", str(self.data_dir)]
        if self.netns:
            command = ["ip", "netns", "exec", self.netns] + command
        if self.config:
            self.config_path.write_text(to_yaml(self.config))
            command += ["--config", str(self.config_path)]
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start #{self.starts}: {' '.join(command)}\n".encode())
            log.flush()
            ready_search_from = log.tell()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=self.workdir)
        self._wait_until_ready(ready_search_from)
        return self

    def _wait_until_ready(self, search_from: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as log:
                log.seek(search_from)
                output = log.read().decode(errors="replace")
            match = READY_LINE.search(output)
            if match:
                if (match["host"], int(match["port"])) != (self.host, self.port):
                    raise BrokerError(f"broker says it listens on {match['host']}:{match['port']}, "
                                      f"asked for {self.bootstrap}")
                self.cluster_id = match["cluster"]
                self.node_id = int(match["node"])
                return
            if self.process.poll() is not None:
                raise BrokerError(f"broker exited with {self.process.returncode} before it was ready\n"
                                  + self.log_tail())
            time.sleep(0.05)
        self.kill9()
        raise BrokerError(f"broker printed no 'strait broker listening on' line within {STARTUP_TIMEOUT_S} s "
                          "(is the line flushed to stdout when stdout is a file?)\n" + self.log_tail())

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code. A broker that does not exit is killed and fails."""
        if not self.is_running():
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise BrokerError(f"broker did not exit within {SHUTDOWN_TIMEOUT_S} s of SIGTERM\n" + self.log_tail())

    def kill9(self) -> None:
        if self.is_running():
            self.process.kill()
            self.process.wait(timeout=SHUTDOWN_TIMEOUT_S)

    def restart(self, config: dict | None = None) -> "Broker":
        """Graceful stop (if running), then start again on the same port and data dir.

        `config` replaces the config for the new process when given.
        """
        if self.is_running():
            exit_code = self.stop()
            if exit_code != 0:
                raise BrokerError(f"broker exited with {exit_code} on SIGTERM\n" + self.log_tail())
        if config is not None:
            self.config = dict(config)
        return self.start()

    def teardown(self) -> None:
        if self.is_running():
            try:
                self.stop()
            except BrokerError:
                pass

    # --- inspection ---

    def resident_memory_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise BrokerError("no VmRSS in /proc status")

    def partition_dir(self, topic: str, partition: int = 0) -> Path:
        return self.data_dir / f"{topic}-{partition}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no broker log at {self.log_path})"
        tail = text.splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)
