"""`strait up` of a topology whose two embedded sites have TLS listeners with mutual client
authentication (`ssl`) and SASL_SSL listeners: kcat talks to both sites over TLS with a client
certificate and over SASL_SSL with SCRAM-SHA-512, a client without a certificate is refused, and
the links between the sites connect to their SASL_SSL listeners with their own client certificate
and SCRAM user and mirror a topic; `strait groups --topology --site` connects as the links do.
`topology check` refuses a site whose certificate file is missing, with the file position."""

import json
import os
import signal
import subprocess
import time

import pytest

from support.broker import free_port, strait_binary
from support.certs import make_certificates

MIRROR_PASSWORD = "mirror-secret"
ALICE_PASSWORD = "alice-secret"


def strait(*arguments, env=None, timeout=30):
    return subprocess.run([str(strait_binary()), *arguments], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def secure_topology(tmp_path, certs, ports):
    """Two embedded sites, each with listen (plaintext), SSL (mutual TLS) and SASL_SSL listeners;
    links both ways connect to SASL_SSL as user `mirror` with alice's client certificate."""
    sites = {}
    for name, (plain, ssl, sasl_ssl) in ports.items():
        sites[name] = {"broker": {
            "listen": f"127.0.0.1:{plain}",
            "data-dir": str(tmp_path / "data" / name),
            "settings": {"sasl-mechanisms": "SCRAM-SHA-512", "num-partitions": 1},
            "listeners": [{"name": "SSL", "listen": f"127.0.0.1:{ssl}", "protocol": "ssl"},
                          {"name": "SASL_SSL", "listen": f"127.0.0.1:{sasl_ssl}", "protocol": "sasl_ssl"}],
            "tls": {"cert-file": certs.path("server.pem"), "key-file": certs.path("server.key"),
                    "ca-file": certs.path("ca.pem"), "client-auth": "required",
                    "principal-mapping-rules": ["RULE:^.*CN=([^,]+)$/$1/L", "DEFAULT"]},
            "security": {"protocol": "sasl_ssl", "ca-file": certs.path("ca.pem"),
                         "cert-file": certs.path("alice.pem"), "key-file": certs.path("alice.key"),
                         "sasl-mechanism": "SCRAM-SHA-512", "username": "mirror",
                         "password-env": "STRAIT_MIRROR_PASSWORD"},
        }}
    topology = {"name": "secure", "mode": "active-active", "status": f"127.0.0.1:{free_port()}", "sites": sites,
                "links": [{"from": "east", "to": "west", "refresh-interval-ms": 500},
                          {"from": "west", "to": "east", "refresh-interval-ms": 500}]}
    return json.dumps(topology, indent=2) + "\n"  # JSON is YAML


def kcat(bootstrap, certs, *arguments, client="alice", sasl_user=None, stdin=None):
    options = ["-X", "security.protocol=SASL_SSL" if sasl_user else "security.protocol=SSL",
               "-X", f"ssl.ca.location={certs.path('ca.pem')}"]
    if client:
        options += ["-X", f"ssl.certificate.location={certs.path(client + '.pem')}",
                    "-X", f"ssl.key.location={certs.path(client + '.key')}"]
    if sasl_user:
        options += ["-X", "sasl.mechanism=SCRAM-SHA-512", "-X", f"sasl.username={sasl_user}",
                    "-X", f"sasl.password={ALICE_PASSWORD}"]
    return subprocess.run(["kcat", "-b", bootstrap, *options, *arguments], input=stdin, capture_output=True, timeout=60)


def wait_for(predicate, what, log, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n" + log()[-4000:])


@pytest.fixture
def secure_up(tmp_path):
    """`strait up` of the secure topology, its users added first; stopped with SIGTERM after."""
    certs = make_certificates(tmp_path / "certs")
    ports = {name: (free_port(), free_port(), free_port()) for name in ("east", "west")}
    path = tmp_path / "secure.yaml"
    path.write_text(secure_topology(tmp_path, certs, ports))
    for name in ports:
        for user, password in (("mirror", MIRROR_PASSWORD), ("alice", ALICE_PASSWORD)):
            added = strait("users", "add", user, "--mechanism", "SCRAM-SHA-512", "--password-env", "PW",
                           "--data-dir", str(tmp_path / "data" / name), env={"PW": password})
            assert added.returncode == 0, added.stderr
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(strait_binary()), "up", str(path)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env={**os.environ, "STRAIT_MIRROR_PASSWORD": MIRROR_PASSWORD})

    def read_log():
        return log_path.read_text(errors="replace")

    try:
        expected = [f"site {name}: listener {listener} on 127.0.0.1:{port}"
                    for name, (_, ssl, sasl_ssl) in ports.items() for listener, port in (("SSL", ssl), ("SASL_SSL", sasl_ssl))]
        expected += ["link east → west: replicating", "link west → east: replicating"]
        wait_for(lambda: process.poll() is not None or all(line in read_log() for line in expected),
                 "the listeners and links", read_log, timeout=30)
        assert process.poll() is None, read_log()
        yield {"path": path, "certs": certs, "log": read_log,
               "ssl": {name: f"127.0.0.1:{p[1]}" for name, p in ports.items()},
               "sasl_ssl": {name: f"127.0.0.1:{p[2]}" for name, p in ports.items()}}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=30) == 0, read_log()[-4000:]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert MIRROR_PASSWORD not in read_log(), "secrets are never printed"


def test_kcat_talks_to_both_sites_over_mutual_tls_and_sasl_ssl_and_the_link_mirrors_over_tls(secure_up, topic):
    certs = secure_up["certs"]
    for site in ("east", "west"):
        # Mutual TLS: alice's certificate names the principal.
        lines = [f"{site}-tls-{i}" for i in range(5)]
        produced = kcat(secure_up["ssl"][site], certs, "-P", "-t", f"{topic}-{site}", stdin=("\n".join(lines) + "\n").encode())
        assert produced.returncode == 0, produced.stderr.decode()
        read = kcat(secure_up["ssl"][site], certs, "-C", "-t", f"{topic}-{site}", "-o", "beginning", "-e", "-q")
        assert read.returncode == 0 and read.stdout.decode().split() == lines, read.stderr.decode()
        # SASL_SSL: SCRAM-SHA-512 over TLS (the listener also asks for a client certificate).
        over_sasl = kcat(secure_up["sasl_ssl"][site], certs, "-C", "-t", f"{topic}-{site}", "-o", "beginning", "-e", "-q",
                         sasl_user="alice")
        assert over_sasl.returncode == 0 and over_sasl.stdout.decode().split() == lines, over_sasl.stderr.decode()
        # client-auth: required: no certificate, no connection.
        anonymous = kcat(secure_up["ssl"][site], certs, "-L", "-m", "5", client=None)
        assert anonymous.returncode != 0, anonymous.stdout.decode()
    log = secure_up["log"]()
    assert "principal=User:alice" in log

    # The link east → west over TLS and SASL: east's records reach west as east.<topic>.
    lines = [f"mirrored-{i}" for i in range(200)]
    produced = kcat(secure_up["ssl"]["east"], certs, "-P", "-t", topic, "-p", "0", stdin=("\n".join(lines) + "\n").encode())
    assert produced.returncode == 0, produced.stderr.decode()
    mirrored = []

    def arrived():
        nonlocal mirrored
        read = kcat(secure_up["sasl_ssl"]["west"], certs, "-C", "-t", f"east.{topic}", "-p", "0", "-o", "beginning", "-e", "-q",
                    sasl_user="alice")
        mirrored = read.stdout.decode().split()
        return mirrored == lines

    wait_for(arrived, f"east.{topic} at west", secure_up["log"])
    # The links logged in as mirror on the SASL_SSL listeners of both sites.
    log = secure_up["log"]()
    for site in ("east", "west"):
        logins = [line for line in log.splitlines()
                  if " authenticated" in line and "principal=User:mirror" in line and "listener=SASL_SSL" in line
                  and f"site={site}" in line]
        assert logins, log[-4000:]
    started = f"source={secure_up['sasl_ssl']['east']} target={secure_up['sasl_ssl']['west']} [Replicator] link started"
    assert started in log, log[-4000:]

    # `strait groups --topology --site` connects to an embedded site as the links do.
    listed = strait("groups", "list", "--topology", str(secure_up["path"]), "--site", "west", "--output", "json",
                    env={"STRAIT_MIRROR_PASSWORD": MIRROR_PASSWORD}, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "groups" in json.loads(listed.stdout)

    # `topology show` says where the links connect.
    shown = strait("topology", "show", str(secure_up["path"]))
    assert shown.returncode == 0, shown.stderr
    assert f"links connect to {secure_up['sasl_ssl']['east']} (listener SASL_SSL)" in shown.stdout, shown.stdout


def test_topology_check_names_a_missing_certificate_file_and_a_tls_listener_without_tls(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(f"""name: broken
sites:
  east:
    broker:
      listen: 127.0.0.1:{free_port()}
      data-dir: data/east
      listeners:
        - {{ name: SSL, listen: 127.0.0.1:{free_port()}, protocol: ssl }}
      tls: {{ cert-file: {tmp_path}/missing.pem, key-file: {tmp_path}/missing.key }}
  west:
    broker:
      listen: 127.0.0.1:{free_port()}
      data-dir: data/west
      listeners:
        - {{ name: SECURE, listen: 127.0.0.1:{free_port()}, protocol: sasl_ssl }}
""")
    checked = strait("topology", "check", str(path))
    assert checked.returncode == 1, checked.stdout
    problems = checked.stderr.splitlines()
    tls_line = f"      tls: {{ cert-file: {tmp_path}/missing.pem, key-file: {tmp_path}/missing.key }}"
    cert_column = tls_line.index(f"{tmp_path}/missing.pem") + 1
    key_column = tls_line.index(f"{tmp_path}/missing.key") + 1
    assert f"{path}:9:{cert_column}: site east.broker.tls.cert-file {tmp_path}/missing.pem: no such file" in problems, checked.stderr
    assert f"{path}:9:{key_column}: site east.broker.tls.key-file {tmp_path}/missing.key: no such file" in problems, checked.stderr
    assert any(line.startswith(f"{path}:15:") and "listener SECURE uses sasl_ssl, which needs tls: in site west.broker" in line
               for line in problems), checked.stderr
