"""SASL on a sasl_plaintext listener: SCRAM-SHA-512 and PLAIN users made with `strait users`
before start, kcat and confluent-kafka authenticating, a wrong password and an unauthenticated
client refused, and a user created live through AlterUserScramCredentials (AdminClient)."""

import os
import subprocess

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

from support.broker import free_port, strait_binary


def add_user(data_dir, user, password, mechanism="SCRAM-SHA-512"):
    subprocess.run([str(strait_binary()), "users", "add", user, "--mechanism", mechanism, "--password-env", "PW",
                    "--data-dir", str(data_dir)], env={**os.environ, "PW": password}, check=True, capture_output=True, timeout=30)


@pytest.fixture
def sasl_broker(broker, tmp_path):
    """A broker whose second listener is sasl_plaintext, with users alice (SCRAM-SHA-512) and bob (PLAIN)."""
    port = free_port()
    # The data dir must hold the users before the broker starts: start once to create it, then stop.
    b = broker(config={"sasl-mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
                       "listeners": [{"name": "SASL", "listen": f"127.0.0.1:{port}", "protocol": "sasl_plaintext"}]})
    b.stop()
    add_user(b.data_dir, "alice", "alice-secret")
    add_user(b.data_dir, "bob", "bob-secret", mechanism="PLAIN")
    b.start()
    b.sasl_bootstrap = f"127.0.0.1:{port}"
    return b


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


def test_a_client_that_skips_sasl_gets_nothing(sasl_broker, topic):
    result = subprocess.run(["kcat", "-b", sasl_broker.sasl_bootstrap, "-L", "-m", "5"], capture_output=True, timeout=60)
    assert result.returncode != 0 or topic not in result.stdout.decode()
    assert "before SASL authentication" in sasl_broker.log_tail(200)


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
