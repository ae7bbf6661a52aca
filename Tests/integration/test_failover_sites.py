"""An unplanned failover over a real network: two sites in network namespaces joined by a veth,
20 ms each way through `strait delay-link` in front of the primary. `strait drill` runs in the
standby's namespace with a steady producer at the primary; the primary's namespace is cut off
mid-stream (`--take-down`), and the drill's `acknowledged_lost` equals the acknowledged records
that this test, reading the standby itself, finds missing there."""

import json
import os
import subprocess

import pytest

from support.broker import free_port, strait_binary
from support.replicator import link_topology
from support.sites import SitePair, namespaces_available

WHY_NOT = namespaces_available()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")
DELAY_MS = 20
RATE = 1_000
TOPIC = "orders.drill"
SHAPED = "4mbit"
BACKLOG = 50_000  # about 6 MB: 12 s through SHAPED


def keys_at(sites: SitePair, site: str, bootstrap: str, topic: str, partitions: int) -> list[int]:
    keys: list[int] = []
    for partition in range(partitions):
        result = sites.run(site, ["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", str(partition), "-o", "beginning",
                                  "-e", "-q", "-f", "%k\\n"], capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr.decode()
        keys += [int(line) for line in result.stdout.decode().split() if line.isdigit()]
    return keys


def test_an_unplanned_drill_across_a_delayed_link_counts_exactly_the_acknowledged_records_lost(broker, tmp_path):
    with SitePair() as sites:
        # kcat creates the topic with one partition; the drill's records go to partition 0 only.
        relay = f"{sites.west_ip}:19092"  # the primary as the standby's side sees it: through the delay
        east = broker(netns=sites.names["east"], host=sites.east_ip, port=9092,
                      config={"advertised-host": sites.west_ip, "advertised-port": 19092})
        west = broker(netns=sites.names["west"], host=sites.west_ip, port=9092)
        link_relay = sites.spawn("west", [str(strait_binary()), "delay-link", "--listen", relay,
                                          "--target", east.bootstrap, "--delay-ms", str(DELAY_MS)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert b"listening on" in link_relay.stdout.readline()
        # A backlog at the primary ahead of the drill's records, and what the primary sends
        # (fetch answers, acknowledgements) slowed to SHAPED: the link is still mirroring the
        # backlog at the cut, so the drill's acknowledged records are not at the standby yet.
        created = sites.run("east", ["kcat", "-b", east.bootstrap, "-P", "-t", TOPIC, "-p", "0", "-K:"],
                            input=("\n".join(f"backlog{i}:{os.urandom(60).hex()}" for i in range(BACKLOG)) + "\n").encode(),
                            capture_output=True, timeout=120)
        assert created.returncode == 0, created.stderr.decode()
        sites.shape(SHAPED, senders=("east",))
        topology = tmp_path / "dr.yaml"
        topology.write_text(link_topology({"east": relay, "west": west.bootstrap}, [
            {"from": "east", "to": "west", "naming": "identity", "offsets": "preserve",
             "topics": '{ include: ["orders.*"] }', "refresh-interval-ms": 500, "checkpoint-interval-ms": 1000}],
            status_port=free_port()))
        acks = tmp_path / "acks.txt"
        take_down = f"ip -n {sites.names['east']} link set {sites.veth['east']} down"
        result = sites.run("west", [str(strait_binary()), "drill", str(topology), "--kind", "unplanned",
                                    "--rate", str(RATE), "--partitions", "1", "--topic", TOPIC, "--warmup", "6",
                                    "--after", "2", "--take-down", take_down, "--acks-file", str(acks),
                                    "--output", "json", "--data-root", str(tmp_path / "drill")],
                           capture_output=True, text=True, timeout=300)
        log = tmp_path / "drill" / "replicator.log"
        assert result.returncode == 0, result.stderr + "\n" + (log.read_text()[-3000:] if log.exists() else "")
        figures = json.loads(result.stdout)

        print(json.dumps({k: v for k, v in figures.items() if k != "failover"}))
        acknowledged = {int(line) for line in acks.read_text().split()}
        at_standby = set(keys_at(sites, "west", west.bootstrap, TOPIC, 1))
        missing = acknowledged - at_standby
        assert figures["acknowledged_lost"] == len(missing), (figures, sorted(missing)[:20])
        assert figures["produced_at_primary"] == len(acknowledged) > RATE  # a steady stream before the cut
        assert len(missing) > 0, "the shaped link kept up: nothing was lost, so nothing was counted"
        assert figures["rpo_seconds"] > 0
        assert figures["skipped"] == 0
        assert figures["rto_seconds"] is not None
        # What the failover could know, from the end offsets the link saw before the cut.
        assert figures["rpo_records"] is not None
