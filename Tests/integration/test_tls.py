"""TLS listeners over the system OpenSSL: kcat and confluent-kafka over SSL with CA verification,
over mutual TLS (the client certificate names the principal), and over SASL_SSL with
SCRAM-SHA-512; an untrusted or expired client certificate and a plaintext client on the TLS port
are refused while the broker keeps serving; a broker serving an expired certificate is refused
by kcat, confluent-kafka and Strait's own client (`strait groups`), which says why; `strait
groups` over SASL_SSL with its security options and from a topology site."""

import json
import os
import socket
import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from support.broker import free_port, strait_binary
from support.certs import make_certificates


@pytest.fixture
def tls_broker(broker, tmp_path):
    certs = make_certificates(tmp_path / "certs")
    ssl_port, sasl_port = free_port(), free_port()
    config = {
        "tls": {"cert-file": certs.path("server.pem"), "key-file": certs.path("server.key"),
                "ca-file": certs.path("ca.pem"), "client-auth": "requested",
                "principal-mapping-rules": ["RULE:^.*CN=([^,]+)$/$1/L", "DEFAULT"]},
        "listeners": [{"name": "SSL", "listen": f"127.0.0.1:{ssl_port}", "protocol": "ssl"},
                      {"name": "SASL_SSL", "listen": f"127.0.0.1:{sasl_port}", "protocol": "sasl_ssl"}],
        "sasl-mechanisms": "SCRAM-SHA-512",
    }
    b = broker(config=config)
    b.stop()
    subprocess.run([str(strait_binary()), "users", "add", "alice", "--password-env", "PW", "--data-dir", str(b.data_dir)],
                   env={**os.environ, "PW": "alice-secret"}, check=True, capture_output=True, timeout=30)
    b.start()
    b.certs = certs
    b.ssl_bootstrap = f"127.0.0.1:{ssl_port}"
    b.sasl_ssl_bootstrap = f"127.0.0.1:{sasl_port}"
    return b


def kcat_tls(bootstrap, certs, *arguments, client=None, extra=(), stdin=None):
    options = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={certs.path('ca.pem')}"]
    if client:
        options += ["-X", f"ssl.certificate.location={certs.path(client + '.pem')}",
                    "-X", f"ssl.key.location={certs.path(client + '.key')}"]
    return subprocess.run(["kcat", "-b", bootstrap, *options, *extra, *arguments], input=stdin, capture_output=True, timeout=60)


def test_kcat_over_ssl_verifies_the_broker_and_round_trips(tls_broker, topic):
    produced = kcat_tls(tls_broker.ssl_bootstrap, tls_broker.certs, "-P", "-t", topic, stdin=b"secret-1\nsecret-2\n")
    assert produced.returncode == 0, produced.stderr.decode()
    read = kcat_tls(tls_broker.ssl_bootstrap, tls_broker.certs, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert read.returncode == 0, read.stderr.decode()
    assert read.stdout.decode().split() == ["secret-1", "secret-2"]
    listing = kcat_tls(tls_broker.ssl_bootstrap, tls_broker.certs, "-L").stdout.decode()
    assert f"at {tls_broker.ssl_bootstrap}" in listing


def test_confluent_kafka_over_mutual_tls_is_identified_by_its_certificate(tls_broker, topic):
    certs = tls_broker.certs
    settings = {"bootstrap.servers": tls_broker.ssl_bootstrap, "security.protocol": "SSL",
                "ssl.ca.location": certs.path("ca.pem"), "ssl.certificate.location": certs.path("alice.pem"),
                "ssl.key.location": certs.path("alice.key")}
    producer = Producer(settings)
    errors = []
    for n in range(100):
        producer.produce(topic, value=f"m{n}".encode(), on_delivery=lambda error, _: errors.append(error) if error else None)
    assert producer.flush(30) == 0 and not errors
    consumer = Consumer({**settings, "group.id": "mtls", "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    for _ in range(100):
        message = consumer.poll(5)
        if message is None:
            break
        got.append(message.value())
        if len(got) == 100:
            break
    consumer.close()
    assert got == [f"m{n}".encode() for n in range(100)]
    assert "principal=User:alice" in tls_broker.log_tail(400)
    # kcat over mutual TLS too.
    read = kcat_tls(tls_broker.ssl_bootstrap, certs, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-c", "3", client="alice")
    assert read.returncode == 0 and read.stdout.decode().split() == ["m0", "m1", "m2"], read.stderr.decode()


def test_sasl_ssl_with_scram_sha_512(tls_broker, topic):
    sasl = ["-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-512",
            "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"]
    certs = tls_broker.certs
    produced = subprocess.run(["kcat", "-b", tls_broker.sasl_ssl_bootstrap, "-X", f"ssl.ca.location={certs.path('ca.pem')}",
                               *sasl, "-P", "-t", topic], input=b"over-sasl-ssl\n", capture_output=True, timeout=60)
    assert produced.returncode == 0, produced.stderr.decode()
    consumer = Consumer({"bootstrap.servers": tls_broker.sasl_ssl_bootstrap, "security.protocol": "SASL_SSL",
                         "ssl.ca.location": certs.path("ca.pem"), "sasl.mechanism": "SCRAM-SHA-512",
                         "sasl.username": "alice", "sasl.password": "alice-secret", "group.id": "sasl-ssl",
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    message = consumer.poll(20)
    consumer.close()
    assert message is not None and not message.error() and message.value() == b"over-sasl-ssl"
    wrong = subprocess.run(["kcat", "-b", tls_broker.sasl_ssl_bootstrap, "-X", f"ssl.ca.location={certs.path('ca.pem')}",
                            *sasl[:-2], "-X", "sasl.password=nope", "-L", "-m", "5"], capture_output=True, timeout=60)
    assert wrong.returncode != 0


def test_an_untrusted_client_certificate_and_a_plaintext_client_are_refused(tls_broker, topic):
    rogue = kcat_tls(tls_broker.ssl_bootstrap, tls_broker.certs, "-L", "-m", "5", client="mallory")
    assert rogue.returncode != 0
    # A plaintext Kafka request on the TLS port: the connection is closed, nothing is answered.
    with socket.create_connection(("127.0.0.1", int(tls_broker.ssl_bootstrap.rsplit(":", 1)[1])), timeout=10) as raw:
        body = struct.pack(">hhih", 18, 0, 1, 4) + b"test"
        raw.sendall(struct.pack(">i", len(body)) + body)
        answer = raw.recv(64)
        assert answer[4:8] != struct.pack(">i", 1), "no Kafka answer (correlation id 1) comes back in plaintext"
    # The broker goes on serving TLS clients.
    assert kcat_tls(tls_broker.ssl_bootstrap, tls_broker.certs, "-L").returncode == 0
    log = tls_broker.log_tail(400)
    assert "wrong version number" in log or "http request" in log.lower() or "handshake" in log.lower(), log


def test_a_replicator_link_over_mutual_tls_with_scram_mirrors_a_topic(broker, tmp_path, topic):
    from support.replicator import Replicator

    certs = make_certificates(tmp_path / "certs")
    sites = {}
    for name in ("east", "west"):
        port = free_port()
        b = broker(config={
            "tls": {"cert-file": certs.path("server.pem"), "key-file": certs.path("server.key"),
                    "ca-file": certs.path("ca.pem"), "client-auth": "required"},
            "listeners": [{"name": "SECURE", "listen": f"127.0.0.1:{port}", "protocol": "sasl_ssl"}],
            "sasl-mechanisms": "SCRAM-SHA-512"})
        b.stop()
        subprocess.run([str(strait_binary()), "users", "add", "mirror", "--password-env", "PW", "--data-dir", str(b.data_dir)],
                       env={**os.environ, "PW": "mirror-secret"}, check=True, capture_output=True, timeout=30)
        b.start()
        sites[name] = (b, f"127.0.0.1:{port}")
    security = (f"{{ protocol: sasl_ssl, ca-file: {certs.path('ca.pem')}, cert-file: {certs.path('alice.pem')}, "
                f"key-file: {certs.path('alice.key')}, sasl-mechanism: SCRAM-SHA-512, username: mirror, "
                f"password-env: STRAIT_MIRROR_PASSWORD }}")
    topology = f"""name: secure
mode: custom
status: 127.0.0.1:{free_port()}
sites:
  east:
    kafka: {{ bootstrap: ["{sites['east'][1]}"], security: {security} }}
  west:
    kafka: {{ bootstrap: ["{sites['west'][1]}"], security: {security} }}
links:
  - {{ from: east, to: west, naming: prefix, refresh-interval-ms: 500 }}
"""
    sasl = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={certs.path('ca.pem')}",
            "-X", f"ssl.certificate.location={certs.path('alice.pem')}", "-X", f"ssl.key.location={certs.path('alice.key')}",
            "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=mirror", "-X", "sasl.password=mirror-secret"]
    lines = [f"secure-{i}" for i in range(1000)]
    produced = subprocess.run(["kcat", "-b", sites["east"][1], *sasl, "-P", "-t", topic, "-p", "0"],
                              input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    assert produced.returncode == 0, produced.stderr.decode()
    os.environ["STRAIT_MIRROR_PASSWORD"] = "mirror-secret"
    try:
        replicator = Replicator(tmp_path / "r", topology).start()
    finally:
        del os.environ["STRAIT_MIRROR_PASSWORD"]
    try:
        import time
        deadline = time.monotonic() + 60
        mirrored = []
        while time.monotonic() < deadline and mirrored != lines:
            read = subprocess.run(["kcat", "-b", sites["west"][1], *sasl, "-C", "-t", f"east.{topic}", "-p", "0",
                                   "-o", "beginning", "-e", "-q"], capture_output=True, timeout=60)
            mirrored = read.stdout.decode().split()
            time.sleep(0.5)
        assert mirrored == lines, replicator.log()[-3000:]
    finally:
        assert replicator.stop() == 0
    assert "mirror-secret" not in replicator.log(), "secrets are never printed"


def strait_groups(*arguments, env=None):
    return subprocess.run([str(strait_binary()), "groups", *arguments], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_an_expired_client_certificate_is_refused_with_the_reason_while_others_connect(broker, tmp_path, topic):
    certs = make_certificates(tmp_path / "certs")
    port = free_port()
    b = broker(config={
        "tls": {"cert-file": certs.path("server.pem"), "key-file": certs.path("server.key"),
                "ca-file": certs.path("ca.pem"), "client-auth": "required",
                "principal-mapping-rules": ["RULE:^.*CN=([^,]+)$/$1/L", "DEFAULT"]},
        "listeners": [{"name": "MTLS", "listen": f"127.0.0.1:{port}", "protocol": "ssl"}]})
    bootstrap = f"127.0.0.1:{port}"
    expired = kcat_tls(bootstrap, certs, "-L", "-m", "5", client="expired-alice")
    assert expired.returncode != 0, expired.stdout.decode()
    deadline = time.monotonic() + 10
    while "certificate has expired" not in b.log_tail(200) and time.monotonic() < deadline:
        time.sleep(0.1)
    log = b.log_tail(200)
    assert "certificate has expired" in log, log
    assert "closing connection" in log, "the one connection is closed, with a logged reason"
    # A good client on the same listener, before and after, is served.
    produced = kcat_tls(bootstrap, certs, "-P", "-t", topic, client="alice", stdin=b"still-served\n")
    assert produced.returncode == 0, produced.stderr.decode()
    read = kcat_tls(bootstrap, certs, "-C", "-t", topic, "-o", "beginning", "-e", "-q", client="alice")
    assert read.returncode == 0 and read.stdout.decode().split() == ["still-served"], read.stderr.decode()
    assert "principal=User:alice" in b.log_tail(400)
    # Strait's client with the expired certificate: warned before connecting, refused with the reason.
    strait = strait_groups("list", "--bootstrap-server", bootstrap, "--security-protocol", "ssl", "--ca-file", certs.path("ca.pem"),
                           "--cert-file", certs.path("expired-alice.pem"), "--key-file", certs.path("expired-alice.key"),
                           "--timeout", "20")
    assert strait.returncode == 1
    assert "warning: the client certificate" in strait.stderr and "expired on" in strait.stderr, strait.stderr
    # The broker's alert, unless the connection reset reaches the client first.
    assert "certificate expired" in strait.stderr or "reset" in strait.stderr, strait.stderr
    good = strait_groups("list", "--bootstrap-server", bootstrap, "--security-protocol", "ssl", "--ca-file", certs.path("ca.pem"),
                         "--cert-file", certs.path("alice.pem"), "--key-file", certs.path("alice.key"))
    assert good.returncode == 0 and good.stderr == "", good.stderr
    assert b.is_running()


def test_a_broker_serving_an_expired_certificate_is_refused_by_every_client(broker, tmp_path):
    certs = make_certificates(tmp_path / "certs")
    port = free_port()
    b = broker(config={
        "tls": {"cert-file": certs.path("expired-server.pem"), "key-file": certs.path("expired-server.key")},
        "listeners": [{"name": "SSL", "listen": f"127.0.0.1:{port}", "protocol": "ssl"}]})
    bootstrap = f"127.0.0.1:{port}"
    assert "expired-server.pem expired on" in b.log_tail(200), "the broker warns at start"
    # librdkafka says only "certificate verify failed"; the broker's log has the client's alert.
    listing = kcat_tls(bootstrap, certs, "-L", "-m", "5")
    assert listing.returncode != 0
    assert "certificate verify failed" in listing.stderr.decode(), listing.stderr.decode()
    errors = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "security.protocol": "SSL", "ssl.ca.location": certs.path("ca.pem"),
                         "group.id": "never", "error_cb": errors.append})
    try:
        deadline = time.monotonic() + 20
        while not errors and time.monotonic() < deadline:
            consumer.poll(0.2)
    finally:
        consumer.close()
    assert any(e.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN) for e in errors), \
        [e.str() for e in errors]
    assert "alert certificate expired" in b.log_tail(200)

    # Strait's own client library says why, on one line, and exits 1.
    result = strait_groups("list", "--bootstrap-server", bootstrap, "--security-protocol", "ssl",
                           "--ca-file", certs.path("ca.pem"), "--timeout", "20")
    assert result.returncode == 1, result
    assert "certificate has expired" in result.stderr, result.stderr
    assert result.stderr.startswith("error: "), result.stderr


def test_strait_groups_over_sasl_ssl_with_options_and_from_a_topology_site(tls_broker, tmp_path, topic):
    certs = tls_broker.certs
    group = f"secure-{topic}"
    client = {"bootstrap.servers": tls_broker.sasl_ssl_bootstrap, "security.protocol": "SASL_SSL",
              "ssl.ca.location": certs.path("ca.pem"), "sasl.mechanism": "SCRAM-SHA-512",
              "sasl.username": "alice", "sasl.password": "alice-secret"}
    producer = Producer(client)
    for n in range(5):
        producer.produce(topic, value=f"v{n}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({**client, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    consumer.close()

    password_file = tmp_path / "alice.password"
    password_file.write_text("alice-secret\n")
    options = ["--bootstrap-server", tls_broker.sasl_ssl_bootstrap, "--security-protocol", "SASL_SSL",
               "--ca-file", certs.path("ca.pem"), "--sasl-mechanism", "SCRAM-SHA-512", "--username", "alice"]
    listed = strait_groups("list", *options, "--password-file", str(password_file), "--output", "json")
    assert listed.returncode == 0, listed.stderr
    assert group in {g["group"] for g in json.loads(listed.stdout)["groups"]}
    described = strait_groups("describe", group, *options, "--password-env", "ALICE_PW", "--output", "json",
                              env={"ALICE_PW": "alice-secret"})
    assert described.returncode == 0, described.stderr
    [row] = json.loads(described.stdout)["partitions"]
    assert (row["topic"], row["current_offset"], row["log_end_offset"], row["lag"]) == (topic, 3, 5, 2)

    # From a topology site, as the replicator would connect.
    topology = tmp_path / "secure.yaml"
    topology.write_text(f"""name: secure
mode: custom
sites:
  east:
    kafka:
      bootstrap: ["{tls_broker.sasl_ssl_bootstrap}"]
      security: {{ protocol: sasl_ssl, ca-file: {certs.path('ca.pem')}, sasl-mechanism: SCRAM-SHA-512,
                  username: alice, password-file: {password_file} }}
  west:
    kafka: {{ bootstrap: ["127.0.0.1:1"] }}
links:
  - {{ from: east, to: west }}
""")
    from_site = strait_groups("describe", group, "--topology", str(topology), "--site", "east", "--output", "json")
    assert from_site.returncode == 0, from_site.stderr
    assert json.loads(from_site.stdout)["partitions"][0]["lag"] == 2
    unknown = strait_groups("list", "--topology", str(topology), "--site", "north")
    assert unknown.returncode == 1 and "no site 'north'" in unknown.stderr, unknown.stderr

    # A wrong password fails clearly and is never printed; so does TLS without the CA.
    bad_file = tmp_path / "wrong.password"
    bad_file.write_text("not-the-password\n")
    wrong = strait_groups("list", *options, "--password-file", str(bad_file), "--timeout", "20")
    assert wrong.returncode == 1
    assert "authentication" in wrong.stderr and "not-the-password" not in wrong.stderr + wrong.stdout, wrong.stderr
    untrusted = strait_groups("list", "--bootstrap-server", tls_broker.ssl_bootstrap, "--security-protocol", "ssl",
                              "--timeout", "20")
    assert untrusted.returncode == 1 and "certificate verify failed" in untrusted.stderr, untrusted.stderr
    # Passwords are not options; a plaintext client on the TLS port is refused.
    refused = strait_groups("list", *options, "--password", "alice-secret")
    assert refused.returncode != 0 and "alice-secret" not in refused.stderr
    plaintext = strait_groups("list", "--bootstrap-server", tls_broker.ssl_bootstrap, "--timeout", "10")
    assert plaintext.returncode == 1
