"""Every shipped topology with embedded sites comes up with `strait up`: every site takes records
from kcat and gives them back, and every link mirrors a topic its filter selects to the other
site under the name its naming gives (prefixed, or the same). The disaster-recovery topology keeps
names and offsets at the standby, and `topology check` says what a failover of each link asks of
clients."""

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, OFFSET_BEGINNING, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from support.broker import REPO_ROOT, strait_binary

TOPOLOGIES = sorted((REPO_ROOT / "topologies").glob("*.yaml"))
READY = re.compile(r"site (\S+): strait broker listening on (\S+):(\d+)")


def embedded_sites(path: Path) -> dict:
    sites = yaml.safe_load(path.read_text())["sites"]
    return {name: site["broker"] for name, site in sites.items() if "broker" in site}


def test_every_shipped_topology_passes_check():
    assert len(TOPOLOGIES) >= 4
    for path in TOPOLOGIES:
        result = subprocess.run([str(strait_binary()), "topology", "check", str(path)], capture_output=True, timeout=30)
        assert result.returncode == 0, result.stderr.decode()
        assert b": ok: topology" in result.stdout


@pytest.mark.parametrize("path", [p for p in TOPOLOGIES if embedded_sites(p)], ids=lambda p: p.stem)
def test_strait_up_serves_every_embedded_site(tmp_path, path):
    # The shipped files keep data in ../data relative to themselves: run a copy inside tmp_path.
    (tmp_path / "topologies").mkdir()
    copy = tmp_path / "topologies" / path.name
    shutil.copy(path, copy)
    sites = embedded_sites(path)
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(strait_binary()), "up", str(copy)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        ready = {}
        while time.monotonic() < deadline and len(ready) < len(sites):
            ready = {m[1]: f"{m[2]}:{m[3]}" for m in READY.finditer(log_path.read_text(errors="replace"))}
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.1)
        assert set(ready) == set(sites), log_path.read_text()
        links = yaml.safe_load(path.read_text()).get("links", [])
        for link in links:
            assert f"link {link['from']} → {link['to']}: replicating" in log_path.read_text()

        for name, bootstrap in ready.items():
            topic = f"hello-{name}"
            if str((sites[name].get("settings") or {}).get("auto-create-topics", True)).lower() == "false":
                admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the answer
                admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
            lines = [f"{name}-{i}" for i in range(10)]
            subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic], input="\n".join(lines).encode() + b"\n",
                           check=True, timeout=60)
            read = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                                  capture_output=True, check=True, timeout=60)
            assert read.stdout.decode().split() == lines
            assert (tmp_path / "data").is_dir()

        for link in links:
            source, target = link["from"], link["to"]
            topic = (link["topics"]["include"][0].removesuffix(".*") or "orders") + f"-from-{source}"
            remote = topic if link.get("naming") == "identity" else f"{source}.{topic}"
            lines = [f"{source}-to-{target}-{i}" for i in range(10)]
            subprocess.run(["kcat", "-b", ready[source], "-P", "-t", topic], input="\n".join(lines).encode() + b"\n",
                           check=True, timeout=60)
            deadline = time.monotonic() + 60
            mirrored = []
            while time.monotonic() < deadline and mirrored != lines:
                read = subprocess.run(["kcat", "-b", ready[target], "-C", "-t", remote, "-o", "beginning",
                                       "-e", "-q"], capture_output=True, timeout=60)
                mirrored = read.stdout.decode().split()
                time.sleep(0.5)
            assert mirrored == lines, log_path.read_text()[-3000:]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()


def check_lines(path: Path) -> list[str]:
    result = subprocess.run([str(strait_binary()), "topology", "check", str(path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_topology_check_says_what_a_failover_of_each_link_asks_of_clients():
    dr = REPO_ROOT / "topologies" / "disaster-recovery.yaml"
    assert check_lines(dr) == [
        f"{dr}: ok: topology orders-disaster-recovery (active-passive), 2 sites, 1 link",
        "  primary → standby: offsets preserve, naming identity",
        "    failover to standby: clients change only their bootstrap servers: topic names and offsets are the same"
        " at standby, committed offsets carry over unchanged",
        "    unplanned: a consumer may re-read what it consumed in the last checkpoint interval (1000 ms)",
    ]
    active_passive = REPO_ROOT / "topologies" / "active-passive.yaml"
    assert check_lines(active_passive)[1:] == [
        "  east → west: offsets auto (preserve: west offers Strait's mirror API), naming prefix \".\"",
        "    failover to west: consumers move to east.<topic> at the same offsets (their committed offsets carry over"
        " unchanged); producers must be reconfigured to write east.<topic>",
        "    unplanned: a consumer may re-read what it consumed in the last checkpoint interval (10000 ms)",
    ]
    external = check_lines(REPO_ROOT / "topologies" / "external-pair.yaml")
    assert external[1] == ("  primary → standby: offsets auto (preserve if standby offers Strait's mirror API,"
                           " else translate), naming prefix \".\"")
    assert external[3] == ("    failover to standby, otherwise (translate): consumers move to primary.<topic>, group"
                           " offsets translated through checkpoints; producers must be reconfigured to write"
                           " primary.<topic>")


def test_the_disaster_recovery_standby_has_the_primarys_topics_at_the_same_offsets(tmp_path):
    path = REPO_ROOT / "topologies" / "disaster-recovery.yaml"
    (tmp_path / "topologies").mkdir()
    copy = tmp_path / "topologies" / path.name
    shutil.copy(path, copy)
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(strait_binary()), "up", str(copy)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        ready = {}
        while time.monotonic() < deadline and len(ready) < 2:
            ready = {m[1]: f"{m[2]}:{m[3]}" for m in READY.finditer(log_path.read_text(errors="replace"))}
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.1)
        primary, standby = ready["primary"], ready["standby"]

        admin = AdminClient({"bootstrap.servers": primary})
        admin.create_topics([NewTopic("orders", num_partitions=2, replication_factor=1)])["orders"].result(timeout=30)
        reports = []
        producer = Producer({"bootstrap.servers": primary, "acks": "all", "linger.ms": 5})
        for i in range(40):
            producer.produce("orders", key=f"k{i}".encode(), value=f"order-{i}".encode(), partition=i % 2,
                             on_delivery=lambda e, m: reports.append((e, m.partition(), m.offset(), m.value())))
        assert producer.flush(60) == 0
        assert all(e is None for e, *_ in reports), reports
        acknowledged = sorted((p, o, v) for _, p, o, v in reports)

        # A group's committed offsets at the primary reach the standby unchanged.
        group = Consumer({"bootstrap.servers": primary, "group.id": "billing", "enable.auto.commit": False})
        group.commit(offsets=[TopicPartition("orders", 0, 7), TopicPartition("orders", 1, 11)], asynchronous=False)
        group.close()

        reader = Consumer({"bootstrap.servers": standby, "group.id": "dr-check", "enable.auto.commit": False})
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                topics = reader.list_topics(timeout=5).topics
                if "orders" in topics and len(topics["orders"].partitions) == 2:
                    break
                time.sleep(0.2)
            reader.assign([TopicPartition("orders", 0, OFFSET_BEGINNING), TopicPartition("orders", 1, OFFSET_BEGINNING)])
            mirrored = []
            while time.monotonic() < deadline and len(mirrored) < len(acknowledged):
                message = reader.poll(0.5)
                if message is not None and message.error() is None:
                    mirrored.append((message.partition(), message.offset(), message.value()))
            assert sorted(mirrored) == acknowledged, log_path.read_text()[-3000:]

            committed = []
            while time.monotonic() < deadline:
                checker = Consumer({"bootstrap.servers": standby, "group.id": "billing", "enable.auto.commit": False})
                committed = [(tp.partition, tp.offset) for tp in checker.committed(
                    [TopicPartition("orders", 0), TopicPartition("orders", 1)], timeout=10)]
                checker.close()
                if committed == [(0, 7), (1, 11)]:
                    break
                time.sleep(0.5)
            assert committed == [(0, 7), (1, 11)], log_path.read_text()[-3000:]
        finally:
            reader.close()

        standby_admin = AdminClient({"bootstrap.servers": standby})
        configs = list(standby_admin.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, "orders")]).values())[0].result(timeout=30)
        assert configs["strait.mirror.source"].value == "primary"

        # Read-only until promoted: a producer at the standby is refused at once.
        refused = []
        local = Producer({"bootstrap.servers": standby, "message.timeout.ms": 30_000})
        local.produce("orders", value=b"written at the standby", partition=0, on_delivery=lambda e, m: refused.append(e))
        local.flush(40)
        assert len(refused) == 1 and refused[0] is not None and refused[0].code() == KafkaError.TOPIC_EXCEPTION, refused
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
