"""`strait delay-link` processes: a userspace WAN delay between a client and a broker."""

from __future__ import annotations

import subprocess
import time

from support.broker import free_port, strait_binary


class DelayLink:
    """Relays 127.0.0.1:<port> to `target` with `delay_ms` one-way delay. Use as a context manager."""

    def __init__(self, target: str, delay_ms: int, port: int | None = None):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(strait_binary()), "delay-link", "--listen", self.address, "--target", target,
             "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.process.stdout.readline().decode()
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"delay-link did not start: {line}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "DelayLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
