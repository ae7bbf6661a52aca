"""How `strait` reports failures: a runtime failure of any subcommand (nothing answers, a port is
taken, a file is unreadable) is one line on stderr and a non-zero exit, without the usage text;
a mistake on the command line (unknown option, missing argument, a value `validate()` refuses)
prints the subcommand's usage."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from support.broker import REPO_ROOT, free_port, strait_binary


def strait(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(strait_binary()), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str, prefix: str = "error: ") -> None:
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), result.stderr
    assert "Usage:" not in result.stderr + result.stdout, result.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), result.stderr


@pytest.fixture
def taken_port():
    """A loopback port something else listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_status_with_nothing_running_prints_one_error_line():
    # The README's command, on the shipped file, with no `strait up` or `strait replicator` running.
    result = strait("status", "topologies/active-passive.yaml", cwd=REPO_ROOT)
    assert_one_error_line(result, "no replicator answers at http://127.0.0.1:9464/status")
    assert result.returncode == 1 and result.stdout == ""


def test_runtime_failures_of_every_subcommand_are_one_error_line(tmp_path, taken_port):
    bad_config = tmp_path / "broker.yaml"
    bad_config.write_text("bogus-key: 1\n")
    assert_one_error_line(strait("broker", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "b"),
                                 "--config", str(bad_config)), f"{bad_config}:1:1")
    assert_one_error_line(strait("broker", "--listen", f"127.0.0.1:{taken_port}", "--data-dir", str(tmp_path / "b"),
                                 "--log-level", "critical"), "Address already in use")

    embedded = tmp_path / "up.yaml"
    embedded.write_text(f"name: t\nmode: custom\nsites:\n  a:\n    broker: {{ listen: 127.0.0.1:{taken_port}, "
                        f"data-dir: {tmp_path / 'a'} }}\n")
    assert_one_error_line(strait("up", str(embedded), "--log-level", "critical"), "Address already in use")

    # Links between two closed ports, the status endpoint on a taken one: the replicator cannot start.
    linked = tmp_path / "replicator.yaml"
    linked.write_text(f"name: t\nmode: custom\nstatus: 127.0.0.1:{taken_port}\nsites:\n"
                      f"  a:\n    kafka: {{ bootstrap: [\"127.0.0.1:{free_port()}\"] }}\n"
                      f"  b:\n    kafka: {{ bootstrap: [\"127.0.0.1:{free_port()}\"] }}\n"
                      "links:\n  - from: a\n    to: b\n")
    assert_one_error_line(strait("replicator", str(linked), "--log-level", "critical"),
                          f"the status endpoint cannot listen on 127.0.0.1:{taken_port}: address already in use")

    assert_one_error_line(strait("groups", "list", "--bootstrap-server", f"127.0.0.1:{free_port()}", "--timeout", "20"),
                          "cannot connect")
    assert_one_error_line(strait("groups", "describe", "g", "--ca-file", str(tmp_path / "none.pem"),
                                 "--security-protocol", "ssl"), "none.pem")
    assert_one_error_line(strait("users", "remove", "nobody", "--data-dir", str(tmp_path / "users")),
                          "user nobody has no SCRAM-SHA-512 credential")
    assert_one_error_line(strait("users", "add", "alice", "--password-env", "STRAIT_TEST_UNSET_VARIABLE",
                                 "--data-dir", str(tmp_path / "users")), "STRAIT_TEST_UNSET_VARIABLE is not set")
    assert_one_error_line(strait("delay-link", "--listen", f"127.0.0.1:{taken_port}", "--target", "127.0.0.1:1",
                                 "--delay-ms", "1"), "Address already in use")

    # A topology file's problems are diagnostics, FILE:LINE:COLUMN: message, one per problem.
    missing = tmp_path / "missing.yaml"
    for command in (["topology", "check"], ["topology", "show"], ["status"], ["up"], ["replicator"]):
        assert_one_error_line(strait(*command, str(missing)), "cannot read the topology file", prefix=f"{missing}:1:1: ")


@pytest.mark.parametrize("args, usage", [
    (["status"], "Usage: strait status <file>"),
    (["status", "topologies/active-passive.yaml", "--output", "xml"], "Usage: strait status <file>"),
    (["status", "topologies/active-passive.yaml", "--no-such-option"], "Usage: strait status <file>"),
    (["status", "topologies/active-passive.yaml", "--count", "2"], "Usage: strait status <file>"),
    (["status", "topologies/active-passive.yaml", "--watch", "--interval", "0"], "Usage: strait status <file>"),
    (["broker", "--listen", "no-port", "--data-dir", "d"], "Usage: strait broker"),
    (["up", "topologies/active-passive.yaml", "--log-level", "loud"], "Usage: strait up <file>"),
    (["users", "add", "alice", "--data-dir", "d"], "Usage: strait users add <user>"),
    (["groups", "list", "--timeout", "0"], "Usage: strait groups list"),
    (["delay-link", "--listen", "127.0.0.1:1", "--target", "x", "--delay-ms", "1"], "Usage: strait delay-link"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_command_line_mistakes_still_print_usage(tmp_path, args, usage):
    result = strait(*args, cwd=REPO_ROOT)
    assert result.returncode == 64, result
    assert result.stderr.startswith("Error: "), result.stderr
    assert usage in result.stderr, result.stderr
