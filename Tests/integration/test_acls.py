"""ACLs (Kafka's model) on a SASL listener: a super user grants WRITE to one user and READ on a
topic and a group to another; the producer without WRITE gets TOPIC_AUTHORIZATION_FAILED while
the authorized one succeeds, a consumer without group READ is refused, and the audit log (its own
file, one JSON line per event) has both denials and the ACL changes."""

import json
import os
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka import KafkaException
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   ConfigResource, NewTopic, ResourcePatternType, ResourceType)

from support.broker import free_port, strait_binary

USERS = {"admin": "admin-secret", "writer": "writer-secret", "reader": "reader-secret"}


@pytest.fixture
def acl_broker(broker):
    port = free_port()
    b = broker(config={"acl-authorizer": True, "super-users": "User:admin", "sasl-mechanisms": "SCRAM-SHA-512",
                       "listeners": [{"name": "SASL", "listen": f"127.0.0.1:{port}", "protocol": "sasl_plaintext"}]})
    b.stop()
    for user, password in USERS.items():
        subprocess.run([str(strait_binary()), "users", "add", user, "--password-env", "PW", "--data-dir", str(b.data_dir)],
                       env={**os.environ, "PW": password}, check=True, capture_output=True, timeout=30)
    b.start()
    b.sasl_bootstrap = f"127.0.0.1:{port}"
    return b


def as_user(broker, user, **extra):
    return {"bootstrap.servers": broker.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": USERS[user], **extra}


def audit_lines(broker):
    path = broker.data_dir / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_write_and_group_read_are_enforced_and_audited(acl_broker, topic):
    group = f"readers-{topic}"
    admin = AdminClient(as_user(acl_broker, "admin"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    grants = [
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:writer", "*", AclOperation.WRITE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:reader", "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, group, ResourcePatternType.LITERAL, "User:reader", "*", AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for future in admin.create_acls(grants).values():
        future.result(timeout=30)
    described = admin.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY)).result(timeout=30)
    assert len(described) == 3

    def produce(user):
        producer = Producer(as_user(acl_broker, user, **{"message.send.max.retries": 0, "message.timeout.ms": 10000}))
        outcome = []
        producer.produce(topic, value=f"from-{user}".encode(), on_delivery=lambda error, _: outcome.append(error))
        producer.flush(15)
        return outcome[0] if outcome else "no delivery report"

    assert produce("writer") is None, "the writer may write"
    denied = produce("reader")
    assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, denied

    def consume(user):
        consumer = Consumer(as_user(acl_broker, user, **{"group.id": group, "auto.offset.reset": "earliest"}))
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error():
                    return message.error()
                return message.value()
            return "nothing within 30 s"
        finally:
            consumer.close()

    assert consume("reader") == b"from-writer"
    refused = consume("writer")
    assert isinstance(refused, KafkaError) and refused.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, refused

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    writer_admin = AdminClient(as_user(acl_broker, "writer"))
    with pytest.raises(KafkaException) as refusal:
        writer_admin.describe_configs([resource])[resource].result(timeout=30)
    assert refusal.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, "a per-resource error, the connection stays"

    lines = audit_lines(acl_broker)
    assert any(l["kind"] == "denied" and l["principal"] == "User:reader" and l.get("operation") == "WRITE"
               and topic in (l.get("resource") or "") for l in lines), lines
    assert any(l["kind"] == "denied" and l["principal"] == "User:writer" and group in (l.get("resource") or "")
               for l in lines), lines
    assert sum(1 for l in lines if l.get("api") == "CreateAcls") == 3
    assert any(l.get("api") == "CreateTopics" and l["principal"] == "User:admin" and l["result"] == "SUCCESS" for l in lines)
    assert all({"time", "principal", "host", "result"} <= set(l) for l in lines)


def test_without_acls_nobody_but_super_users_gets_in(acl_broker, topic):
    admin = AdminClient(as_user(acl_broker, "admin"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    listing = subprocess.run(["kcat", "-b", acl_broker.sasl_bootstrap, "-X", "security.protocol=SASL_PLAINTEXT",
                              "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=reader",
                              "-X", "sasl.password=reader-secret", "-L"], capture_output=True, timeout=60).stdout.decode()
    assert topic not in listing, "topics the principal may not describe are not listed"


def test_idempotent_producer_needs_write_on_some_topic_not_idempotent_write(acl_broker, topic):
    """KIP-679 (Kafka 2.8+): InitProducerId without a transactional id is allowed with WRITE on any
    topic; IDEMPOTENT_WRITE on the cluster is no longer needed. Without WRITE anywhere the producer
    gets CLUSTER_AUTHORIZATION_FAILED."""
    admin = AdminClient(as_user(acl_broker, "admin"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    grants = [
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:writer", "*", AclOperation.WRITE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:reader", "*", AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for future in admin.create_acls(grants).values():
        future.result(timeout=30)

    def produce_idempotently(user, count):
        errors, delivered = [], []
        producer = Producer(as_user(acl_broker, user, **{
            "enable.idempotence": True, "message.timeout.ms": 10000,
            "error_cb": lambda error: errors.append(error)}))
        try:
            for n in range(count):
                producer.produce(topic, value=f"{user}-{n}".encode(),
                                 on_delivery=lambda error, message: (errors if error else delivered).append(error or message))
            producer.flush(20)
        except KafkaException as fatal:  # librdkafka refuses further produce calls after a fatal error
            errors.append(fatal.args[0])
        return delivered, errors

    delivered, errors = produce_idempotently("writer", 20)
    assert not errors, errors
    assert len(delivered) == 20
    assert {m.offset() for m in delivered} == set(range(20)), "each record written once, in order"

    delivered, errors = produce_idempotently("reader", 1)
    assert not delivered
    assert any(e.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED for e in errors), [str(e) for e in errors]
    lines = audit_lines(acl_broker)
    assert any(l["kind"] == "denied" and l["principal"] == "User:reader" and l.get("api") == "InitProducerId"
               and l.get("operation") == "IDEMPOTENT_WRITE" for l in lines), lines
    assert not any(l["kind"] == "denied" and l["principal"] == "User:writer" and l.get("api") == "InitProducerId"
                   for l in lines), "the writer's InitProducerId was allowed"
