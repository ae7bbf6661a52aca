"""Several listeners on one broker: each tells its clients its own address, so a client stays on
the listener it chose; a bad listener in the config file is refused with its position."""

import subprocess

from support.broker import free_port, strait_binary


def test_a_second_listener_advertises_itself(broker, topic):
    second = free_port()
    b = broker(config={"listeners": [{"name": "INTERNAL", "listen": f"127.0.0.1:{second}"}]})
    listing = subprocess.run(["kcat", "-b", f"127.0.0.1:{second}", "-L"], capture_output=True, check=True, timeout=30).stdout.decode()
    assert f"at 127.0.0.1:{second}" in listing, listing
    subprocess.run(["kcat", "-b", f"127.0.0.1:{second}", "-P", "-t", topic], input=b"via-internal\n", check=True, timeout=30)
    read = subprocess.run(["kcat", "-b", b.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                          capture_output=True, check=True, timeout=30).stdout.decode()
    assert read.split() == ["via-internal"]
    assert f"at {b.bootstrap}" in subprocess.run(["kcat", "-b", b.bootstrap, "-L"], capture_output=True,
                                                  check=True, timeout=30).stdout.decode()


def test_a_listener_without_an_address_is_refused_with_its_line(tmp_path):
    config = tmp_path / "broker.yaml"
    config.write_text("num-partitions: 2\nlisteners:\n  - name: INTERNAL\n    protocol: plaintext\n")
    result = subprocess.run([str(strait_binary()), "broker", "--listen", f"127.0.0.1:{free_port()}", "--data-dir",
                             str(tmp_path / "data"), "--config", str(config)], capture_output=True, timeout=30)
    assert result.returncode != 0
    assert f"{config}:3:5: listener INTERNAL needs listen: HOST:PORT" in result.stderr.decode(), result.stderr.decode()
