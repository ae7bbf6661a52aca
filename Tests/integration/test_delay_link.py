"""The userspace WAN stand-in: every byte through `strait delay-link` arrives, in order, no sooner
than the delay (round trips take at least twice the one-way delay)."""

import socket
import struct
import subprocess
import time

from support.broker import free_port
from support.delaylink import DelayLink

DELAY_MS = 30


def api_versions_round_trip_ms(address: str) -> float:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        body = struct.pack(">hhih", 18, 0, 1, 4) + b"test"
        started = time.perf_counter()
        connection.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", connection.recv(4, socket.MSG_WAITALL))[0]
        answer = connection.recv(size, socket.MSG_WAITALL)
        elapsed = (time.perf_counter() - started) * 1000
    assert struct.unpack(">i", answer[:4])[0] == 1, "the answer to our correlation id"
    return elapsed


def test_round_trips_through_the_link_take_at_least_twice_the_delay(broker):
    b = broker()
    with DelayLink(b.bootstrap, DELAY_MS) as link:
        assert api_versions_round_trip_ms(link.address) >= 2 * DELAY_MS


def test_kcat_through_the_link_moves_every_record_in_order(broker, topic):
    link_port = free_port()
    b = broker(config={"advertised-port": link_port})  # clients come back through the link
    with DelayLink(b.bootstrap, DELAY_MS, port=link_port) as link:
        lines = [f"record-{i}-{'y' * (i % 300)}" for i in range(20_000)]
        subprocess.run(["kcat", "-b", link.address, "-P", "-t", topic, "-p", "0"],
                       input=("\n".join(lines) + "\n").encode(), check=True, timeout=120)
        read = subprocess.run(["kcat", "-b", link.address, "-C", "-t", topic, "-p", "0", "-o", "beginning",
                               "-e", "-q", "-f", "%s\n"], capture_output=True, check=True, timeout=120)
        assert read.stdout.decode().splitlines() == lines
