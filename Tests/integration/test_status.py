"""`strait status` for terminals and scripts, against a running `strait replicator`:

- `--output json` is the /status JSON and names the link;
- the exit status: 0 caught up (whatever the bounds), 3 over `--max-lag-records` /
  `--max-lag-seconds` (a link whose target refuses its records), 2 a link that cannot start (its
  target is down) and, under `--watch`, a link whose errors rise, 1 nothing answering;
- `--watch`: frames separated plainly when stdout is not a terminal, redrawn in place on one;
  `--count` bounds it, SIGTERM and Ctrl-C stop it with the last frame's status.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

from confluent_kafka.admin import AdminClient, ConfigResource

from support.broker import free_port, strait_binary
from support.clients import confluent_produce
from support.records import make_records
from support.replicator import Replicator, link_topology
from test_replicator import create_topic, end_offsets, link, wait_until

WATCH_HEADER = "strait status "


def status(replicator: Replicator, *options: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(strait_binary()), "status", str(replicator.topology_path), *options],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def status_json(replicator: Replicator) -> list | None:
    """The /status JSON, whatever the links' state (None while nothing answers)."""
    result = status(replicator, "--output", "json")
    return json.loads(result.stdout) if result.returncode != 1 else None


def headers(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(WATCH_HEADER)]


def test_a_caught_up_link_is_exit_0_in_json_text_and_watch(broker, topic, tmp_path):
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic, 2)
    confluent_produce(east.bootstrap, topic, {0: make_records(300, "a"), 1: make_records(200, "b")})
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link()])).start()
    try:
        wait_until(lambda: (s := status_json(replicator)) is not None and len(s[0]["partitions"]) == 2
                   and all(p["mirroredOffset"] == p["sourceEndOffset"] > 0 for p in s[0]["partitions"])
                   and s[0].get("checkpointAgeMs") is not None,
                   "both partitions caught up and a checkpoint", log=replicator.log)

        # The /status JSON, one line: the link by name, per partition its offsets.
        result = status(replicator, "--output", "json", "--max-lag-records", "0", "--max-lag-seconds", "0")
        assert result.returncode == 0, result
        assert result.stdout.count("\n") == 1
        [snapshot] = json.loads(result.stdout)
        assert (snapshot["source"], snapshot["target"], snapshot["mode"]) == ("east", "west", "preserve")
        assert sorted((p["sourceTopic"], p["partition"], p["mirroredOffset"]) for p in snapshot["partitions"]) == \
            [(topic, 0, 300), (topic, 1, 200)]

        result = status(replicator, "--max-lag-records", "0", "--max-lag-seconds", "0")
        assert result.returncode == 0, result
        assert result.stdout.splitlines()[-1] == "status: ok (1 link up, within bounds)"

        # Not a terminal: two frames, each with its header, an empty line between, no escape codes.
        result = status(replicator, "--watch", "--count", "2", "--interval", "0.5")
        assert result.returncode == 0, result
        assert "\x1b" not in result.stdout
        assert len(headers(result.stdout)) == 2, result.stdout
        assert all(h.endswith("(Ctrl-C to stop)") and "every 0.5 s" in h for h in headers(result.stdout))
        frames = result.stdout.split("\n\n")
        assert len(frames) == 2 and all("LINK east → west: mode preserve, lag 0 records" in f for f in frames), result.stdout

        # The same as JSON Lines.
        result = status(replicator, "--watch", "--count", "2", "--interval", "0.5", "--output", "json")
        assert result.returncode == 0, result
        assert [json.loads(line)[0]["source"] for line in result.stdout.splitlines()] == ["east", "east"]
    finally:
        assert replicator.stop() == 0


def test_a_link_whose_target_refuses_its_records_is_over_the_lag_bounds_until_it_catches_up(broker, topic, tmp_path):
    """The target's copy of the topic accepts timestamps of the last hour only and the records
    are from 2023: the link is up (its checkpoints go on) but every write is refused, so it lags
    by all 200 records. Exit 3 with a bound, 0 without; under --watch its errors rise: exit 2.
    Once the target accepts them, the same bounds give 0."""
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic, 1)
    create_topic(west.bootstrap, f"east.{topic}", 1, {"message.timestamp.before.max.ms": "3600000"})
    confluent_produce(east.bootstrap, topic, {0: make_records(200, "old")})
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link(offsets="translate")])).start()
    try:
        wait_until(lambda: (s := status_json(replicator)) is not None and s[0]["partitions"]
                   and s[0]["partitions"][0]["errors"] >= 1 and s[0]["partitions"][0]["sourceEndOffset"] == 200
                   and s[0].get("checkpointAgeMs") is not None,
                   "a refusal and a checkpoint", log=replicator.log)

        result = status(replicator, "--max-lag-records", "10")
        assert result.returncode == 3, result
        assert f"  OVER BOUND: {topic} partition 0 lags 200 records (--max-lag-records 10)" in result.stdout.splitlines()
        assert result.stdout.splitlines()[-1] == "status: over a lag bound: east → west (exit 3)"
        assert status(replicator, "--max-lag-seconds", "60").returncode == 3
        assert status(replicator, "--max-lag-records", "200").returncode == 0, "at the bound is within it"
        result = status(replicator, "--output", "json", "--max-lag-records", "10")
        assert result.returncode == 3 and json.loads(result.stdout)[0]["partitions"][0]["lastError"], result
        assert status(replicator).returncode == 0, "errors counted since start are no verdict on their own"

        # Refusals are retried at most 5 s apart, so two frames 6 s apart see the count rise.
        result = status(replicator, "--watch", "--count", "2", "--interval", "6", timeout=60)
        assert result.returncode == 2, result
        first, second = result.stdout.split("\n\n")
        assert "ERRORING" not in first and "  ERRORING: " in second, result.stdout
        assert second.splitlines()[-1] == "status: link down or erroring: east → west (exit 2)"

        admin = AdminClient({"bootstrap.servers": west.bootstrap})
        resource = ConfigResource("topic", f"east.{topic}",
                                  set_config={"message.timestamp.before.max.ms": "9223372036854775807"})
        admin.alter_configs([resource])[resource].result(timeout=30)
        wait_until(lambda: end_offsets(west.bootstrap, f"east.{topic}", 1) == [200], "every record once accepted",
                   log=replicator.log)
        wait_until(lambda: status(replicator, "--max-lag-records", "10", "--max-lag-seconds", "60").returncode == 0,
                   "status within the bounds", log=replicator.log)
    finally:
        assert replicator.stop() == 0


def test_a_link_whose_target_is_down_is_exit_2(broker, tmp_path):
    east = broker()
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": f"127.0.0.1:{free_port()}"},
                                                          [link()])).start()
    try:
        wait_until(lambda: status_json(replicator) is not None, "the status endpoint", log=replicator.log)
        result = status(replicator)
        assert result.returncode == 2, result
        assert "LINK east → west: mode starting" in result.stdout
        assert "  DOWN: not started: one of its clusters has not answered yet" in result.stdout.splitlines()
        assert json.loads(status(replicator, "--output", "json").stdout)[0]["mode"] == "starting"
    finally:
        assert replicator.stop() == 0


def read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    """What the pseudo-terminal shows until `wanted` appears (or the time is up)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the other side closed
                break
    return seen


def test_watch_on_a_terminal_redraws_in_place_and_stops_on_sigterm_or_ctrl_c(broker, topic, tmp_path):
    east, west = broker(), broker()
    create_topic(east.bootstrap, topic, 1)
    replicator = Replicator(tmp_path / "r", link_topology({"east": east.bootstrap, "west": west.bootstrap},
                                                          [link()])).start()
    try:
        wait_until(lambda: status(replicator).returncode == 0, "the link up", log=replicator.log)
        for stop in (signal.SIGTERM, signal.SIGINT):
            controller, terminal = pty.openpty()
            watcher = subprocess.Popen([str(strait_binary()), "status", str(replicator.topology_path),
                                        "--watch", "--interval", "0.3"],
                                       stdout=terminal, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            os.close(terminal)
            try:
                # Two frames, each drawn from the top of the screen and clearing what it leaves below.
                screen = read_until(controller, b"\x1b[J", 30)
                screen += read_until(controller, b"\x1b[J", 30) if screen.count(b"\x1b[J") < 2 else b""
                assert screen.count(b"\x1b[H") >= 2 and screen.count(b"\x1b[J") >= 2, screen
                assert b"LINK east \xe2\x86\x92 west" in screen and b"(Ctrl-C to stop)" in screen
                watcher.send_signal(stop)
                assert watcher.wait(timeout=15) == 0, watcher.stderr.read()
            finally:
                if watcher.poll() is None:
                    watcher.kill()
                    watcher.wait()
                os.close(controller)
    finally:
        assert replicator.stop() == 0


def test_with_nothing_answering_watch_shows_the_error_and_exits_1(tmp_path):
    topology = tmp_path / "t.yaml"
    topology.write_text(link_topology({"east": f"127.0.0.1:{free_port()}", "west": f"127.0.0.1:{free_port()}"}, [link()]))
    result = subprocess.run([str(strait_binary()), "status", str(topology), "--watch", "--count", "2", "--interval", "0.2"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    assert len(headers(result.stdout)) == 2
    assert result.stdout.count("error: no replicator answers at http://127.0.0.1:") == 2, result.stdout
