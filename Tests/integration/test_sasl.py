"""SASL on a sasl_plaintext listener: SCRAM-SHA-512 and PLAIN users made with `strait users`
before start, kcat and confluent-kafka authenticating, a wrong password and an unauthenticated
client refused (and audited), a user created live through AlterUserScramCredentials
(AdminClient); KIP-368 session lifetimes: librdkafka re-authenticating on its connections, a raw
client that does not being closed at expiry; SaslHandshake v0 with raw PLAIN and SCRAM tokens."""

import json
import os
import re
import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

from support import sasl, wire
from support.broker import free_port, strait_binary


def add_user(data_dir, user, password, mechanism="SCRAM-SHA-512"):
    subprocess.run([str(strait_binary()), "users", "add", user, "--mechanism", mechanism, "--password-env", "PW",
                    "--data-dir", str(data_dir)], env={**os.environ, "PW": password}, check=True, capture_output=True, timeout=30)


@pytest.fixture
def make_sasl_broker(broker):
    """Factory: a broker whose second listener is sasl_plaintext, with users alice
    (SCRAM-SHA-512 and SCRAM-SHA-256), bob and al (PLAIN); `extra` is more broker config,
    `listener_extra` more keys of the SASL listener."""

    def make(extra=None, listener_extra=None):
        port = free_port()
        # The data dir must hold the users before the broker starts: start once to create it, then stop.
        listener = {"name": "SASL", "listen": f"127.0.0.1:{port}", "protocol": "sasl_plaintext", **(listener_extra or {})}
        b = broker(config={"sasl-mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN", "listeners": [listener], **(extra or {})})
        b.stop()
        add_user(b.data_dir, "alice", "alice-secret")
        add_user(b.data_dir, "alice", "alice-secret", mechanism="SCRAM-SHA-256")
        add_user(b.data_dir, "bob", "bob-secret", mechanism="PLAIN")
        add_user(b.data_dir, "al", "pw", mechanism="PLAIN")  # a PLAIN token shorter than any request header
        b.start()
        b.sasl_bootstrap = f"127.0.0.1:{port}"
        b.sasl_port = port
        return b

    return make


@pytest.fixture
def sasl_broker(make_sasl_broker):
    return make_sasl_broker()


def audit_lines(broker):
    path = broker.data_dir / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def client_config(broker, user="alice", password="alice-secret", mechanism="SCRAM-SHA-512", **extra):
    return {"bootstrap.servers": broker.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password, **extra}


def kcat(bootstrap, *arguments, mechanism="SCRAM-SHA-512", user="alice", password="alice-secret", stdin=None):
    return subprocess.run(["kcat", "-b", bootstrap, "-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanism={mechanism}",
                           "-X", f"sasl.username={user}", "-X", f"sasl.password={password}", *arguments],
                          input=stdin, capture_output=True, timeout=60)


def test_scram_and_plain_users_produce_and_consume_with_kcat(sasl_broker, topic):
    produced = kcat(sasl_broker.sasl_bootstrap, "-P", "-t", topic, stdin=b"one\ntwo\n")
    assert produced.returncode == 0, produced.stderr.decode()
    read = kcat(sasl_broker.sasl_bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                mechanism="PLAIN", user="bob", password="bob-secret")
    assert read.returncode == 0, read.stderr.decode()
    assert read.stdout.decode().split() == ["one", "two"]
    listing = kcat(sasl_broker.sasl_bootstrap, "-L").stdout.decode()
    assert f"at {sasl_broker.sasl_bootstrap}" in listing, "the SASL listener advertises itself"


def test_a_wrong_password_is_refused(sasl_broker, topic):
    producer = Producer({"bootstrap.servers": sasl_broker.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
                         "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "wrong",
                         "message.timeout.ms": 5000})
    errors = []
    producer.produce(topic, b"never", on_delivery=lambda error, _: errors.append(error))
    producer.flush(10)
    assert errors and errors[0] is not None
    assert "SASL authentication failed" in sasl_broker.log_tail(200)
    failures = [l for l in audit_lines(sasl_broker) if l["kind"] == "authenticationFailed"]
    assert failures, "the failed authentication is audited"
    assert all(l["principal"] == "User:alice" and l["host"] == "127.0.0.1" and l["operation"] == "SCRAM-SHA-512"
               and l["result"] == "FAILURE" and "Invalid user credentials" in l["detail"] for l in failures), failures
    assert "wrong" not in (sasl_broker.data_dir / "audit.log").read_text(), "never the password"


def test_a_client_that_skips_sasl_gets_nothing(sasl_broker, topic):
    result = subprocess.run(["kcat", "-b", sasl_broker.sasl_bootstrap, "-L", "-m", "5"], capture_output=True, timeout=60)
    assert result.returncode != 0 or topic not in result.stdout.decode()
    assert "before SASL authentication" in sasl_broker.log_tail(200)
    assert any(l["kind"] == "authenticationFailed" and l["principal"] == "User:ANONYMOUS" and l["api"] == "Metadata"
               for l in audit_lines(sasl_broker)), audit_lines(sasl_broker)


def test_unknown_users_and_unsupported_mechanisms_are_audited(sasl_broker):
    with wire.KafkaConnection("127.0.0.1", sasl_broker.sasl_port) as connection:
        _, error, mechanisms = wire.parse_sasl_handshake(connection.request(wire.sasl_handshake_request(1, "GSSAPI")))
        assert error == 33 and "PLAIN" in mechanisms, "UNSUPPORTED_SASL_MECHANISM, the connection stays"
        answer = sasl.authenticate(connection, "SCRAM-SHA-256", "mallory", "guess")
        assert answer.error_code == 58, answer
        assert connection.closed_by_peer(within=10)
    lines = [l for l in audit_lines(sasl_broker) if l["kind"] == "authenticationFailed"]
    assert [(l["principal"], l["api"], l["operation"]) for l in lines] == [
        ("User:ANONYMOUS", "SaslHandshake", "GSSAPI"), ("User:mallory", "SaslAuthenticate", "SCRAM-SHA-256")], lines
    assert "Unsupported SASL mechanism GSSAPI" in lines[0]["detail"]


def test_a_user_created_live_through_the_admin_api_can_log_in(sasl_broker, topic):
    admin = AdminClient({"bootstrap.servers": sasl_broker.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
                         "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "alice-secret"})
    upsert = UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"carol-secret")
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)
    described = admin.describe_user_scram_credentials(["carol"])
    carol = (described.result(timeout=30) if hasattr(described, "result") else described["carol"].result(timeout=30))
    assert carol.user == "carol" and [info.iterations for info in carol.scram_credential_infos] == [4096]
    produced = kcat(sasl_broker.sasl_bootstrap, "-P", "-t", topic, mechanism="SCRAM-SHA-256", user="carol",
                    password="carol-secret", stdin=b"from-carol\n")
    assert produced.returncode == 0, produced.stderr.decode()


# --- KIP-368: session lifetimes and re-authentication ---------------------------------------------


def test_librdkafka_reauthenticates_while_producing_and_consuming(make_sasl_broker, topic):
    b = make_sasl_broker({"connections-max-reauth-ms": 2000})
    errors = []
    admin = AdminClient(client_config(b))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    producer = Producer(client_config(b, error_cb=errors.append, **{"linger.ms": 5}))
    consumer = Consumer(client_config(b, mechanism="SCRAM-SHA-256", error_cb=errors.append,
                                      **{"group.id": f"g-{topic}", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, 0, 0)])
    delivered, received = [], []
    sent = 0
    deadline = time.monotonic() + 6.5  # three session lifetimes
    while time.monotonic() < deadline:
        producer.produce(topic, f"m{sent}".encode(), on_delivery=lambda error, _: delivered.append(error))
        sent += 1
        producer.poll(0)
        message = consumer.poll(0.05)
        if message is not None and message.error() is None:
            received.append(message.value().decode())
    assert producer.flush(30) == 0
    drain_until = time.monotonic() + 30
    while len(received) < sent and time.monotonic() < drain_until:
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            received.append(message.value().decode())
    consumer.close()
    assert delivered == [None] * sent, [e for e in delivered if e is not None][:5]
    assert received == [f"m{i}" for i in range(sent)]
    assert errors == [], errors
    log = b.log_path.read_text(errors="replace")
    assert log.count("re-authenticated") >= 4, b.log_tail(80)
    assert "session-lifetime-ms=2000" in log
    assert "expired" not in log and "re-authentication failed" not in log, b.log_tail(80)


def test_a_client_that_does_not_reauthenticate_is_closed_at_expiry(make_sasl_broker):
    # The listener's own limit wins over the broker's.
    b = make_sasl_broker({"connections-max-reauth-ms": 3600000}, listener_extra={"connections-max-reauth-ms": 1000})
    with wire.KafkaConnection("127.0.0.1", b.sasl_port) as connection:
        answer = sasl.authenticate(connection, "SCRAM-SHA-512", "alice", "alice-secret")
        assert answer.error_code == 0 and answer.session_lifetime_ms == 1000, answer
        assert wire.parse_metadata_v4(connection.request(wire.metadata_request(10, [], version=4))).correlation_id == 10
        time.sleep(1.5)  # past the session's end, without re-authenticating
        connection.send(wire.metadata_request(11, [], version=4))
        assert connection.closed_by_peer(within=10), "the broker closes the expired session's connection"
    assert "SASL session of User:alice expired" in b.log_tail(50)
    expired = [l for l in audit_lines(b) if l["kind"] == "authenticationFailed" and "session expired" in l.get("detail", "")]
    assert len(expired) == 1 and expired[0]["principal"] == "User:alice" and expired[0]["api"] == "Metadata", audit_lines(b)


def test_reauthentication_as_another_user_is_refused_and_closed(make_sasl_broker):
    b = make_sasl_broker({"connections-max-reauth-ms": 60000})
    with wire.KafkaConnection("127.0.0.1", b.sasl_port) as connection:
        assert sasl.authenticate(connection, "PLAIN", "bob", "bob-secret").error_code == 0
        answer = sasl.authenticate(connection, "PLAIN", "al", "pw")
        assert answer.error_code == 58 and "Cannot change principals" in answer.error_message, answer
        assert connection.closed_by_peer(within=10)
    changed = [l for l in audit_lines(b) if "Cannot change principals" in l.get("detail", "")]
    assert len(changed) == 1 and changed[0]["principal"] == "User:al", audit_lines(b)


# --- SaslHandshake v0: raw tokens ----------------------------------------------------------------


@pytest.mark.parametrize("mechanism,user,password", [("PLAIN", "al", "pw"), ("PLAIN", "bob", "bob-secret"),
                                                     ("SCRAM-SHA-256", "alice", "alice-secret"),
                                                     ("SCRAM-SHA-512", "alice", "alice-secret")])
def test_sasl_handshake_v0_with_raw_tokens(sasl_broker, mechanism, user, password):
    with wire.KafkaConnection("127.0.0.1", sasl_broker.sasl_port) as connection:
        sasl.authenticate_raw(connection, mechanism, user, password)
        metadata = wire.parse_metadata_v4(connection.request(wire.metadata_request(7, None, version=4)))
        assert metadata.correlation_id == 7 and metadata.brokers, metadata
    assert f"principal=User:{user}" in sasl_broker.log_tail(50)


def test_sasl_handshake_v0_with_a_wrong_password_closes_without_answer(sasl_broker):
    with wire.KafkaConnection("127.0.0.1", sasl_broker.sasl_port) as connection:
        with pytest.raises(wire.ConnectionClosed):
            sasl.authenticate_raw(connection, "PLAIN", "bob", "not-bobs")
    failed = [l for l in audit_lines(sasl_broker) if l["kind"] == "authenticationFailed"]
    assert [(l["principal"], l["api"], l["operation"]) for l in failed] == [("User:bob", "SaslHandshake v0", "PLAIN")], failed


# --- SASL only on SASL listeners; the frame cap before authentication ------------------------------


def test_sasl_on_the_plaintext_listener_is_refused_as_kafka_does(sasl_broker):
    with wire.KafkaConnection("127.0.0.1", sasl_broker.port) as connection:
        correlation_id, error, mechanisms = wire.parse_sasl_handshake(connection.request(wire.sasl_handshake_request(1, "PLAIN")))
        assert (correlation_id, error, mechanisms) == (1, 34, []), "ILLEGAL_SASL_STATE, no mechanisms"
        answer = wire.parse_sasl_authenticate(connection.request(wire.sasl_authenticate_request(2, sasl.plain_token("bob", "bob-secret"))))
        assert answer.error_code == 34 and answer.error_message == "SaslAuthenticate request received after successful authentication"
        # The connection stays, as it was: served, not closed.
        assert wire.parse_metadata_v4(connection.request(wire.metadata_request(3, [], version=4))).correlation_id == 3
    assert "principal=User:bob" not in sasl_broker.log_tail(50), "no SASL session on the plaintext listener"


def test_a_frame_over_sasl_max_receive_bytes_before_authentication_closes_the_connection(sasl_broker, topic):
    oversized = struct.pack(">i", 1024 * 1024)  # 1 MiB announced, none of it sent
    with wire.KafkaConnection("127.0.0.1", sasl_broker.sasl_port) as connection:
        connection.send(oversized)
        assert connection.closed_by_peer(within=10), "closed on the size prefix alone"
    # The broker logs the reason once the connection is closed: give it a moment.
    reason = "request frame of 1048576 bytes before SASL authentication exceeds sasl-max-receive-bytes 524288"
    deadline = time.monotonic() + 10
    while reason not in sasl_broker.log_tail(50) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reason in sasl_broker.log_tail(50), sasl_broker.log_tail(50)
    refused = [l for l in audit_lines(sasl_broker) if l["api"] == "(frame not read)"]
    assert len(refused) == 1 and refused[0]["kind"] == "authenticationFailed" and refused[0]["principal"] == "User:ANONYMOUS", refused
    assert "sasl-max-receive-bytes 524288 (listener SASL)" in refused[0]["detail"], refused
    # The plaintext listener has no such cap: the same prefix waits for its body.
    with wire.KafkaConnection("127.0.0.1", sasl_broker.port) as connection:
        connection.send(oversized)
        assert not connection.closed_by_peer(within=1)
    # Once authenticated, a client may send frames above the cap (a ~700 KB record).
    producer = Producer(client_config(sasl_broker))
    errors = []
    producer.produce(topic, b"x" * 700_000, on_delivery=lambda error, _: errors.append(error))
    assert producer.flush(30) == 0 and errors == [None], errors


# --- KIP-368 on Strait's own client: a replicator link ---------------------------------------


def test_a_replicator_link_reauthenticates_on_its_connections(broker, tmp_path, topic, monkeypatch):
    """Both brokers give SASL sessions of 2 s on their SASL listeners; the replicator's client
    renews each connection's session before it ends, so records produced over ~8 s keep being
    mirrored without a client error, and the brokers log the re-authentications."""
    from support.replicator import Replicator

    sites = {}
    for name in ("east", "west"):
        port = free_port()
        b = broker(config={"sasl-mechanisms": "SCRAM-SHA-512", "listeners": [
            {"name": "SASL", "listen": f"127.0.0.1:{port}", "protocol": "sasl_plaintext", "connections-max-reauth-ms": 2000}]})
        b.stop()
        add_user(b.data_dir, "mirror", "mirror-secret")
        b.start()
        sites[name] = (b, f"127.0.0.1:{port}")
    east, west = sites["east"][0], sites["west"][0]
    security = "{ protocol: sasl_plaintext, sasl-mechanism: SCRAM-SHA-512, username: mirror, password-env: STRAIT_MIRROR_PASSWORD }"
    topology = f"""name: reauth
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
    # The test's own clients use the brokers' PLAINTEXT listeners.
    admin = AdminClient({"bootstrap.servers": east.bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    monkeypatch.setenv("STRAIT_MIRROR_PASSWORD", "mirror-secret")
    replicator = Replicator(tmp_path / "r", topology).start()
    try:
        producer = Producer({"bootstrap.servers": east.bootstrap, "linger.ms": 5})
        produced = {0: [], 1: []}
        started = time.monotonic()
        while time.monotonic() - started < 8.0:  # four session lifetimes
            i = sum(len(v) for v in produced.values())
            partition = i % 2
            producer.produce(topic, f"r{i}".encode(), partition=partition)
            produced[partition].append(f"r{i}")
            producer.poll(0)
            time.sleep(0.02)
        assert producer.flush(30) == 0

        consumer = Consumer({"bootstrap.servers": west.bootstrap, "group.id": f"check-{topic}", "enable.auto.commit": False})
        consumer.assign([TopicPartition(f"east.{topic}", p, 0) for p in (0, 1)])
        mirrored = {0: [], 1: []}
        deadline = time.monotonic() + 60
        while mirrored != produced and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                mirrored[message.partition()].append(message.value().decode())
        consumer.close()
        assert mirrored == produced, ({p: len(v) for p, v in mirrored.items()}, replicator.log()[-3000:])
    finally:
        assert replicator.stop() == 0
    log = replicator.log()
    problems = [line for line in log.splitlines() if re.match(r"^\S+ (warning|error|critical) ", line)]
    assert problems == [], "\n".join(problems[:20])
    assert "re-authentication failed" not in log and "connection closed" not in log, log[-3000:]
    for site in (east, west):
        site_log = site.log_path.read_text(errors="replace")
        assert "expired" not in site_log and "re-authentication failed" not in site_log, site.log_tail(80)
    # Each of the link's connections to the source renews its session about four times.
    assert east.log_path.read_text(errors="replace").count("re-authenticated") >= 4, east.log_tail(80)
    assert "re-authenticated" in west.log_path.read_text(errors="replace"), west.log_tail(80)
