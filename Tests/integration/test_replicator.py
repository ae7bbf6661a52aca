"""The replicator between two real brokers: `strait replicator FILE` over external sites.

- preserve mode (Strait target, StraitMirrorAppend): every record at its source offset, keys,
  values, headers and timestamps identical; restarts (kill -9 of the replicator, or of the target
  with appends and the fetches ahead of them in flight) neither lose nor duplicate.
- translate mode (any Kafka target): every record mirrored, and a group's committed source
  offsets arrive at the target translated exactly (zero records re-read after failover).
- gaps: records deleted by source retention before they were mirrored are reported exactly.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from support.clients import confluent_produce
from support.records import Rec, make_records
from support.replicator import Replicator, link_topology
from support.wire import scan_batches

PARTITIONS = 6
DEADLINE_S = 120.0


def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})])[topic].result(timeout=30)


def end_offsets(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in range(partitions)]
    except Exception:
        return [-1] * partitions
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> dict[int, list[tuple]]:
    """Every record as (offset, key, value, headers, timestamp), per partition, to the end."""
    ends = end_offsets(bootstrap, topic, partitions)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    got: dict[int, list[tuple]] = {p: [] for p in range(partitions)}
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + DEADLINE_S
        done = lambda: all((got[p][-1][0] + 1 if got[p] else 0) >= ends[p] for p in range(partitions))
        while not done() and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                if message.error():
                    continue
                got[message.partition()].append((message.offset(), message.key(), message.value(),
                                                 tuple(message.headers() or []), message.timestamp()[1]))
        assert done(), f"read {[len(v) for v in got.values()]} of {ends}"
    finally:
        consumer.close()
    return got


def stored_batches(site, topic: str, partition: int) -> list[bytes]:
    """The record batches of one partition as stored on disk, in offset order, without the base
    offset's neighbours: each as its bytes (base offset, length, epoch, magic, CRC, the rest)."""
    directory = site.partition_dir(topic, partition)
    data = b"".join(path.read_bytes() for path in sorted(directory.glob("*.log")))
    batches, _ = scan_batches(data)
    return [data[b.position:b.end] for b in batches]


def wait_until(condition, what: str, timeout: float = DEADLINE_S, log=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}" + ("\n" + log()[-3000:] if log else ""))


def produce_spread(bootstrap: str, topic: str, count: int, label: str) -> None:
    records = make_records(count, label)
    confluent_produce(bootstrap, topic, {p: records[p::PARTITIONS] for p in range(PARTITIONS)})


def link(**options) -> dict:
    base = {"from": "east", "to": "west", "naming": "prefix", "refresh-interval-ms": 500, "checkpoint-interval-ms": 500}
    base.update(options)
    return base


def test_preserve_mode_mirrors_a_million_records_at_their_own_offsets_byte_for_byte(broker, topic, tmp_path):
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic)
    produce_spread(east.bootstrap, topic, 500_000, "first")
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="preserve")])).start()
    try:
        produce_spread(east.bootstrap, topic, 500_000, "second")  # while it runs: 1,000,000 in all
        source_ends = end_offsets(east.bootstrap, topic)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}") == source_ends,
                   "the mirror to reach the source's end offsets", log=replicator.log)
        assert read_all(west.bootstrap, f"east.{topic}") == read_all(east.bootstrap, topic)
    finally:
        assert replicator.stop() == 0
    assert "mode=preserve" in replicator.log()
    for p in range(PARTITIONS):
        # Byte for byte: the partition leader epoch field aside (bytes 12-16, each broker's own).
        strip = lambda batch: batch[:12] + batch[16:]
        assert [strip(b) for b in stored_batches(west, f"east.{topic}", p)] == \
            [strip(b) for b in stored_batches(east, topic, p)], f"partition {p}"


def produce_through_three_kill_9s(replicator, bootstrap: str, topic: str) -> None:
    """Three rounds of 20,000 records, the replicator killed with -9 mid-stream after each."""
    for round_ in range(3):
        produce_spread(bootstrap, topic, 20_000, f"round-{round_}")
        time.sleep(0.3)  # mid-stream
        replicator.kill9()
        replicator.start()


def test_preserve_mode_survives_three_kill_9s_without_loss_or_duplicates(broker, topic, tmp_path):
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic)
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="preserve")])).start()
    try:
        produce_through_three_kill_9s(replicator, east.bootstrap, topic)
        source_ends = end_offsets(east.bootstrap, topic)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}") == source_ends,
                   "the mirror to catch up after three kill -9s", log=replicator.log)
        assert read_all(west.bootstrap, f"east.{topic}") == read_all(east.bootstrap, topic)
    finally:
        replicator.stop()


def test_preserve_mode_survives_the_target_killed_mid_append_without_loss_or_duplicates(broker, topic, tmp_path):
    """Appends fail while the next fetches are in flight (each partition fetches ahead while it
    writes): the answers fetched ahead are dropped and each mirror resumes from the target's end."""
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic)
    produce_spread(east.bootstrap, topic, 300_000, "before")
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="preserve")])).start()
    try:
        for round_ in range(2):
            wait_until(lambda: sum(max(e, 0) for e in end_offsets(west.bootstrap, f"east.{topic}")) > 0,
                       "the mirror to start", log=replicator.log)
            killer = threading.Timer(0.5, west.kill9)  # mid-stream: the appends in flight fail
            killer.start()
            produce_spread(east.bootstrap, topic, 200_000, f"round-{round_}")
            killer.join()
            time.sleep(0.5)
            west.start()
        source_ends = end_offsets(east.bootstrap, topic)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}") == source_ends,
                   "the mirror to catch up after the target was killed twice", log=replicator.log)
        assert read_all(west.bootstrap, f"east.{topic}") == read_all(east.bootstrap, topic)
    finally:
        replicator.stop()
    assert "partition mirror failed; retrying" in replicator.log()


def test_translate_mode_maps_a_groups_offsets_exactly(broker, topic, tmp_path):
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic)
    # The remote topic already holds 7 foreign records per partition: target offsets are shifted,
    # so a translation that just copied offsets would be wrong.
    create_topic(west.bootstrap, f"east.{topic}")
    confluent_produce(west.bootstrap, f"east.{topic}",
                      {p: make_records(7, f"foreign-{p}") for p in range(PARTITIONS)})
    produce_spread(east.bootstrap, topic, 12_000, "translated")

    group = f"failover-{topic}"
    committed = {p: 100 + 37 * p for p in range(PARTITIONS)}  # arbitrary positions, mid-batch
    committer = Consumer({"bootstrap.servers": east.bootstrap, "group.id": group})
    committer.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()], asynchronous=False)
    committer.close()

    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="translate", compression="lz4")])).start()
    try:
        source_ends = end_offsets(east.bootstrap, topic)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}") == [e + 7 for e in source_ends],
                   "every record to be mirrored after the foreign ones", log=replicator.log)

        def target_committed():
            reader = Consumer({"bootstrap.servers": west.bootstrap, "group.id": group})
            try:
                got = reader.committed([TopicPartition(f"east.{topic}", p) for p in range(PARTITIONS)], timeout=10)
                return {tp.partition: tp.offset for tp in got}
            finally:
                reader.close()
        wait_until(lambda: all(o >= 0 for o in target_committed().values()),
                   "the group's offsets to be synced to the target", log=replicator.log)
        translated = target_committed()
        source = read_all(east.bootstrap, topic)
        target = read_all(west.bootstrap, f"east.{topic}")
        for p in range(PARTITIONS):
            assert translated[p] == committed[p] + 7, f"partition {p}"
            # The record a failed-over consumer reads first is the one it would have read next at the source.
            source_next = source[p][committed[p]][1:]
            target_next = target[p][translated[p]][1:]
            assert target_next == source_next
            assert [r[1:] for r in target[p][7:]] == [r[1:] for r in source[p]], "every record, in order"
    finally:
        assert replicator.stop() == 0
    assert "mode=translate" in replicator.log()
    # The source's batches are uncompressed; the link asked for LZ4 (codec 3 in the attributes).
    mirrored = [batch for p in range(PARTITIONS) for batch in scan_batches(
        b"".join(path.read_bytes() for path in sorted(west.partition_dir(f"east.{topic}", p).glob("*.log"))))[0]]
    from_link = [batch for batch in mirrored if batch.base_offset >= 7]
    assert from_link and all(batch.attributes & 0x07 == 3 for batch in from_link)


def log_start(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)[0]
    finally:
        consumer.close()


def fresh_records(count: int, label: str) -> list:
    """Records stamped now, so time retention counts from now."""
    now = int(time.time() * 1000)
    return [Rec(r.key, r.value, r.headers, now) for r in make_records(count, label)]


def test_records_deleted_before_they_were_mirrored_are_reported_with_their_offsets(broker, topic, tmp_path):
    east = broker(config={"retention-check-interval-ms": 200})
    west = broker()
    create_topic(east.bootstrap, topic, partitions=1, config={"retention.ms": "3000", "segment.ms": "200"})
    topology = link_topology({"east": east.bootstrap, "west": west.bootstrap}, [link(offsets="translate")])
    replicator = Replicator(tmp_path / "r", topology).start()
    confluent_produce(east.bootstrap, topic, {0: fresh_records(10, "mirrored")})
    wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}", 1) == [10], "the first 10 records to be mirrored",
               log=replicator.log)
    assert replicator.stop() == 0

    # The link is down: 40 more records arrive and source retention deletes them all.
    confluent_produce(east.bootstrap, topic, {0: fresh_records(40, "lost")})
    wait_until(lambda: log_start(east.bootstrap, topic) >= 50, "source retention to delete offsets up to 50")

    replicator.start()
    try:
        wait_until(lambda: "records were deleted at the source before they were mirrored" in replicator.log(),
                   "the gap to be reported", log=replicator.log)
    finally:
        replicator.stop()
    log = replicator.log()
    assert "gap=[10, 50)" in log and "records=40" in log, log[-3000:]


@pytest.mark.parametrize("naming", ["prefix", "identity"])
def test_active_active_delivers_each_record_once_to_the_other_site_and_never_loops(broker, topic, tmp_path, naming):
    east, west = broker(), broker()
    for site in (east, west):
        create_topic(site.bootstrap, topic)
    options = {"naming": naming, "provenance-header": "true"} if naming == "identity" else {"naming": naming}
    topology = link_topology({"east": east.bootstrap, "west": west.bootstrap},
                             [link(**options), {**link(**options), "from": "west", "to": "east"}])
    replicator = Replicator(tmp_path / "r", topology).start()
    try:
        produce_spread(east.bootstrap, topic, 3_000, "from-east")
        produce_spread(west.bootstrap, topic, 2_000, "from-west")
        if naming == "prefix":
            # Each site's records appear at the other under the origin's prefix, and nothing
            # comes back: west.<topic> at east is never mirrored to west as east.west.<topic>.
            wait_until(lambda: sum(end_offsets(west.bootstrap, f"east.{topic}")) == 3_000
                       and sum(end_offsets(east.bootstrap, f"west.{topic}")) == 2_000,
                       "both directions to be mirrored", log=replicator.log)
            time.sleep(2)  # give a loop the chance to show up
            topics = set(AdminClient({"bootstrap.servers": east.bootstrap}).list_topics(timeout=10).topics) | \
                set(AdminClient({"bootstrap.servers": west.bootstrap}).list_topics(timeout=10).topics)
            assert not any(name.startswith(("east.west.", "west.east.")) for name in topics), sorted(topics)
            assert sum(end_offsets(west.bootstrap, f"east.{topic}")) == 3_000
            assert sum(end_offsets(east.bootstrap, f"west.{topic}")) == 2_000
        else:
            # Same topic name at both sites: each ends with its own records plus the other's, once.
            wait_until(lambda: sum(end_offsets(east.bootstrap, topic)) == 5_000
                       and sum(end_offsets(west.bootstrap, topic)) == 5_000,
                       "both sites to hold all 5,000 records", log=replicator.log)
            time.sleep(2)
            assert sum(end_offsets(east.bootstrap, topic)) == 5_000, "no record came back"
            assert sum(end_offsets(west.bootstrap, topic)) == 5_000
            values = lambda site: sorted(r[2] or b"" for records in read_all(site.bootstrap, topic).values() for r in records)
            assert values(east) == values(west)
    finally:
        assert replicator.stop() == 0


def test_lag_per_partition_is_served_on_metrics_and_by_strait_status(broker, topic, tmp_path):
    import json
    import subprocess
    import urllib.request

    from support.broker import free_port, strait_binary

    east, west = broker(), broker()
    create_topic(east.bootstrap, topic)
    produce_spread(east.bootstrap, topic, 6_000, "lag")
    port = free_port()
    topology = link_topology({"east": east.bootstrap, "west": west.bootstrap}, [link()], status_port=port)
    replicator = Replicator(tmp_path / "r", topology).start()
    try:
        source_ends = end_offsets(east.bootstrap, topic)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}") == source_ends, "mirroring", log=replicator.log)

        def status():
            result = subprocess.run([str(strait_binary()), "status", str(replicator.topology_path), "--output", "json"],
                                    capture_output=True, timeout=30)
            return json.loads(result.stdout) if result.returncode == 0 else None
        wait_until(lambda: status() is not None and len(status()[0]["partitions"]) == PARTITIONS
                   and all(p["mirroredOffset"] == p["sourceEndOffset"] == source_ends[p["partition"]] for p in status()[0]["partitions"])
                   and status()[0].get("checkpointAgeMs") is not None,
                   "status to show every partition caught up", log=replicator.log)
        text = subprocess.run([str(strait_binary()), "status", str(replicator.topology_path)],
                              capture_output=True, timeout=30, check=True).stdout.decode()
        assert "LINK east → west: mode preserve, lag 0 records" in text
        assert f"{topic}  0 " in text.replace("  ", "  ")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert f'strait_link_lag_records{{link="east->west",topic="{topic}",partition="0"}} 0' in metrics
        assert "strait_link_records_total" in metrics and "strait_link_checkpoint_age_seconds" in metrics
    finally:
        assert replicator.stop() == 0
    # Without a replicator, status says so.
    result = subprocess.run([str(strait_binary()), "status", str(replicator.topology_path)], capture_output=True, timeout=30)
    assert result.returncode != 0 and b"no replicator answers" in result.stderr


def test_translate_mode_survives_three_kill_9s_and_counts_its_duplicates(broker, topic, tmp_path):
    import re

    east, west = broker(), broker()
    create_topic(east.bootstrap, topic)
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="translate")])).start()
    try:
        produce_through_three_kill_9s(replicator, east.bootstrap, topic)
        produced = sum(end_offsets(east.bootstrap, topic))
        reported = lambda: sum(int(n) for n in re.findall(r"duplicates=(\d+)", replicator.log()))
        wait_until(lambda: sum(end_offsets(west.bootstrap, f"east.{topic}")) == produced + reported(),
                   "the target to hold every record plus exactly the reported duplicates", log=replicator.log)
        time.sleep(1)
        assert sum(end_offsets(west.bootstrap, f"east.{topic}")) == produced + reported()
        source = read_all(east.bootstrap, topic)
        target = read_all(west.bootstrap, f"east.{topic}")
        extra = 0
        for p in range(PARTITIONS):
            # No record lost and none out of order: without its repeats, the target is the source.
            wanted = [r[1:] for r in source[p]]
            got = [r[1:] for r in target[p]]
            first_copies = list(dict.fromkeys(got))
            assert first_copies == wanted, f"partition {p}"
            extra += len(got) - len(wanted)
        assert extra == reported(), "every duplicate was reported, and only those"
    finally:
        replicator.stop()


def test_a_strait_target_without_the_mirror_api_gets_translated_offsets(broker, topic, tmp_path):
    east, west = broker(), broker(config={"mirror-api": "false"})
    create_topic(east.bootstrap, topic)
    produce_spread(east.bootstrap, topic, 6_000, "plain-target")
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link()])).start()  # offsets: auto
    try:
        source_ends = end_offsets(east.bootstrap, topic)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}") == source_ends, "mirroring", log=replicator.log)
    finally:
        assert replicator.stop() == 0
    assert "mode=translate" in replicator.log()
    assert [r[1:] for p, rs in read_all(west.bootstrap, f"east.{topic}").items() for r in rs] == \
        [r[1:] for p, rs in read_all(east.bootstrap, topic).items() for r in rs]


def mirror_then_create_again(east, west, topic: str, replicator: Replicator) -> None:
    """Waits for the 100 records of the one-partition `topic` to be mirrored, then deletes the
    source topic, creates it again and produces 30 records into it."""
    wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}", 1) == [100], "the old topic mirrored", log=replicator.log)
    admin = AdminClient({"bootstrap.servers": east.bootstrap})
    admin.delete_topics([topic])[topic].result(timeout=30)
    create_topic(east.bootstrap, topic, partitions=1)
    confluent_produce(east.bootstrap, topic, {0: make_records(30, "new")})


def test_a_source_topic_created_again_is_reported_and_mirrored_anew_in_translate_mode(broker, topic, tmp_path):
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic, partitions=1)
    confluent_produce(east.bootstrap, topic, {0: make_records(100, "old")})
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="translate")])).start()
    try:
        mirror_then_create_again(east, west, topic, replicator)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}", 1) == [130],
                   "the new topic's records after the old ones", log=replicator.log)
    finally:
        replicator.stop()
    assert "the source topic was re-created" in replicator.log()


def test_a_source_topic_created_again_parks_its_preserve_mode_partition_saying_what_to_run(broker, topic, tmp_path):
    """The mirror topic holds the old topic's records at offsets the new topic reuses: nothing of
    the new topic is appended, and the log line and the status say what to do."""
    import json
    import urllib.request

    from support.broker import free_port

    east, west = broker(), broker()
    create_topic(east.bootstrap, topic, partitions=1)
    confluent_produce(east.bootstrap, topic, {0: make_records(100, "old")})
    port = free_port()
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="preserve")], status_port=port)).start()
    try:
        mirror_then_create_again(east, west, topic, replicator)
        wait_until(lambda: "partition mirror parked" in replicator.log(), "the partition to park", log=replicator.log)
        time.sleep(1)
        assert end_offsets(west.bootstrap, f"east.{topic}", 1) == [100], "nothing of the new topic appended"
        status = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10).read())[0]
        [partition] = status["partitions"]
        assert f"delete east.{topic} at the target and restart the replicator" in partition["lastError"], partition
        assert partition["errors"] >= 1
    finally:
        assert replicator.stop() == 0
    log = replicator.log()
    assert f"kafka-topics.sh --bootstrap-server {west.bootstrap} --delete --topic east.{topic}" in log, log[-3000:]
    assert "the source topic was re-created" in log


def test_new_partitions_config_changes_and_deletions_follow_the_source(broker, topic, tmp_path):
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions

    east, west = broker(), broker()
    create_topic(east.bootstrap, topic, partitions=2, config={"retention.ms": "3600000"})
    replicator = Replicator(tmp_path / "r", link_topology(
        {"east": east.bootstrap, "west": west.bootstrap}, [link(offsets="translate", **{"sync-topic-deletion": "true"})])).start()
    remote = f"east.{topic}"
    admin_east = AdminClient({"bootstrap.servers": east.bootstrap})
    admin_west = AdminClient({"bootstrap.servers": west.bootstrap})

    def remote_config(name):
        resource = ConfigResource(ConfigResource.Type.TOPIC, remote)
        return admin_west.describe_configs([resource])[resource].result(timeout=10)[name].value
    try:
        wait_until(lambda: remote in admin_west.list_topics(timeout=10).topics, "the remote topic", log=replicator.log)
        assert remote_config("retention.ms") == "3600000", "configs copied at creation"

        admin_east.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=10)
        confluent_produce(east.bootstrap, topic, {3: make_records(5, "new-partition")})
        wait_until(lambda: len(admin_west.list_topics(timeout=10).topics[remote].partitions) == 4
                   and end_offsets(west.bootstrap, remote, 4)[3] == 5, "the new partition and its records", log=replicator.log)

        change = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
            ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
        for future in admin_east.incremental_alter_configs([change]).values():
            future.result(timeout=10)
        wait_until(lambda: remote_config("retention.ms") == "7200000", "the config change", log=replicator.log)

        admin_east.delete_topics([topic])[topic].result(timeout=10)
        wait_until(lambda: remote not in admin_west.list_topics(timeout=10).topics, "the remote topic's deletion",
                   log=replicator.log)
    finally:
        assert replicator.stop() == 0
