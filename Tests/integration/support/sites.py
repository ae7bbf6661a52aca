"""Two sites as network namespaces joined by a veth pair, made and removed by the test itself.

    with SitePair() as sites:
        sites.east_ip, sites.west_ip          # 10.77.x.1 and 10.77.x.2
        sites.run("east", ["kcat", ...])      # a command inside a site
        sites.shape("20mbit")                 # a slower link (tbf; this kernel has no netem)
        sites.cut(); sites.mend()             # take the link between them down and up

Traffic stays inside the two namespaces. Everything is removed on exit, processes started by
`spawn` included.
"""

from __future__ import annotations

import os
import random
import subprocess


def ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True, timeout=30)


def namespaces_available() -> str | None:
    """None when this process can create network namespaces, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"strait-probe-{os.getpid()}"
    try:
        ip("netns", "add", probe)
        ip("netns", "del", probe)
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        return f"cannot create a network namespace: {error}"
    return None


class SitePair:
    def __init__(self):
        tag = f"{os.getpid() % 10000}{random.randint(0, 99)}"
        subnet = random.randint(1, 250)
        self.names = {"east": f"st-e{tag}", "west": f"st-w{tag}"}
        self.veth = {"east": f"ve{tag}", "west": f"vw{tag}"}
        self.east_ip = f"10.77.{subnet}.1"
        self.west_ip = f"10.77.{subnet}.2"
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> "SitePair":
        try:
            for site in ("east", "west"):
                ip("netns", "add", self.names[site])
                ip("-n", self.names[site], "link", "set", "lo", "up")
            ip("link", "add", self.veth["east"], "netns", self.names["east"], "type", "veth",
               "peer", "name", self.veth["west"], "netns", self.names["west"])
            for site, address in (("east", self.east_ip), ("west", self.west_ip)):
                ip("-n", self.names[site], "addr", "add", f"{address}/24", "dev", self.veth[site])
                ip("-n", self.names[site], "link", "set", self.veth[site], "up")
        except Exception:
            self.__exit__()
            raise
        return self

    def prefix(self, site: str) -> list[str]:
        return ["ip", "netns", "exec", self.names[site]]

    def run(self, site: str, command: list[str], **options) -> subprocess.CompletedProcess:
        return subprocess.run(self.prefix(site) + command, **options)

    def spawn(self, site: str, command: list[str], **options) -> subprocess.Popen:
        process = subprocess.Popen(self.prefix(site) + command, **options)
        self.processes.append(process)
        return process

    def shape(self, rate: str, senders: tuple[str, ...] = ("east", "west")) -> None:
        """Limit what `senders` send over the link (both directions by default) to `rate` (e.g.
        "20mbit") with a token bucket."""
        for site in senders:
            subprocess.run(["ip", "netns", "exec", self.names[site], "tc", "qdisc", "add", "dev", self.veth[site],
                            "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"],
                           check=True, capture_output=True, timeout=30)

    def cut(self) -> None:
        """The link between the sites goes down (both ends)."""
        for site in ("east", "west"):
            ip("-n", self.names[site], "link", "set", self.veth[site], "down")

    def mend(self) -> None:
        for site in ("east", "west"):
            ip("-n", self.names[site], "link", "set", self.veth[site], "up")

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        for site in ("east", "west"):
            subprocess.run(["ip", "netns", "del", self.names[site]], capture_output=True, timeout=30)
