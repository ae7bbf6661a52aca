"""Two sites in network namespaces joined by a veth pair shaped to 20 Mbit/s, with a 20 ms
one-way WAN delay (`strait delay-link`) in front of the source: a preserve-mode link mirrors a
backlog across it,
the link between the sites is cut for 3 seconds mid-stream, and afterwards every record is at
the target at its own offset, once."""

import os
import subprocess
import time

import pytest

from support.broker import strait_binary
from support.replicator import Replicator, link_topology
from support.sites import SitePair, namespaces_available

WHY_NOT = namespaces_available()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")
RECORDS = 100_000
DELAY_MS = 20


def read_partition(sites: SitePair, site: str, bootstrap: str, topic: str) -> list[str]:
    result = sites.run(site, ["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
                              "-f", "%o %k %s\\n"], capture_output=True, timeout=120)
    return result.stdout.decode().splitlines() if result.returncode == 0 else []


def test_a_link_across_a_delayed_wan_survives_a_cut_without_loss_or_duplicates(broker, topic, tmp_path):
    with SitePair() as sites:
        relay = f"{sites.west_ip}:19092"  # the east broker as seen from anywhere: through the delay
        east = broker(netns=sites.names["east"], host=sites.east_ip, port=9092,
                      config={"advertised-host": sites.west_ip, "advertised-port": 19092})
        west = broker(netns=sites.names["west"], host=sites.west_ip, port=9092)
        sites.shape("20mbit")
        link_relay = sites.spawn("west", [str(strait_binary()), "delay-link", "--listen", relay,
                                          "--target", east.bootstrap, "--delay-ms", str(DELAY_MS)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert b"listening on" in link_relay.stdout.readline()

        # Random hex values: LZ4 cannot shrink them, so the backlog (about 11 MB) takes seconds
        # to cross the shaped link, and the cut lands in the middle of it.
        lines = [f"k{i}:{os.urandom(50).hex()}" for i in range(RECORDS)]
        produced = sites.run("east", ["kcat", "-b", relay, "-P", "-t", topic, "-p", "0", "-K:", "-z", "lz4"],
                             input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=300)
        assert produced.returncode == 0, produced.stderr.decode()

        topology = link_topology({"east": relay, "west": west.bootstrap}, [
            {"from": "east", "to": "west", "naming": "prefix", "offsets": "preserve", "refresh-interval-ms": 500}])
        replicator = Replicator(tmp_path / "r", topology, prefix=sites.prefix("west")).start()
        try:
            # Cut mid-stream: as soon as the first records are across.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not read_partition(sites, "west", west.bootstrap, f"east.{topic}")[:1]:
                time.sleep(0.05)
            sites.cut()
            at_cut = len(read_partition(sites, "west", west.bootstrap, f"east.{topic}"))
            time.sleep(3)
            sites.mend()
            assert 0 < at_cut < RECORDS, f"the cut came mid-stream ({at_cut} of {RECORDS} across)"

            source = read_partition(sites, "east", relay, topic)
            assert len(source) == RECORDS
            deadline = time.monotonic() + 180
            mirrored = []
            while time.monotonic() < deadline and len(mirrored) < RECORDS:
                time.sleep(0.5)
                mirrored = read_partition(sites, "west", west.bootstrap, f"east.{topic}")
            assert mirrored == source, (f"{len(mirrored)} of {len(source)} records mirrored\n" + replicator.log()[-3000:])
        finally:
            assert replicator.stop() == 0
