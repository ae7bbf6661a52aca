"""Every shipped topology with embedded sites comes up with `strait up`: every site takes records
from kcat and gives them back, and every link mirrors a topic its filter selects to the other
site under the prefixed name."""

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

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
            lines = [f"{name}-{i}" for i in range(10)]
            subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic], input="\n".join(lines).encode() + b"\n",
                           check=True, timeout=60)
            read = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                                  capture_output=True, check=True, timeout=60)
            assert read.stdout.decode().split() == lines
            assert (tmp_path / "data").is_dir()

        for link in links:
            source, target = link["from"], link["to"]
            topic = link["topics"]["include"][0].removesuffix(".*") + f"-from-{source}"
            lines = [f"{source}-to-{target}-{i}" for i in range(10)]
            subprocess.run(["kcat", "-b", ready[source], "-P", "-t", topic], input="\n".join(lines).encode() + b"\n",
                           check=True, timeout=60)
            deadline = time.monotonic() + 60
            mirrored = []
            while time.monotonic() < deadline and mirrored != lines:
                read = subprocess.run(["kcat", "-b", ready[target], "-C", "-t", f"{source}.{topic}", "-o", "beginning",
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
