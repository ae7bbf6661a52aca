"""kill -9 during acks=all produces under the per-batch fsync policy: every acknowledged record
survives, in order, once. A segment cut at an arbitrary byte recovers to its last whole batch."""

import time

from confluent_kafka import Producer

from support import wire
from support.clients import confluent_consume
from support.records import Rec

CYCLES = 3
ACKS_BEFORE_KILL = 3_000


def stream_until_killed(b, topic: str, first_sequence: int) -> tuple[list[int], int]:
    """Produce numbered records until ACKS_BEFORE_KILL are acknowledged, then kill -9 the broker
    while more are in flight. Returns the acknowledged sequence numbers and the next number."""
    acknowledged: list[int] = []
    producer = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 1, "message.timeout.ms": 5000, "retry.backoff.ms": 50})

    def delivered(error, message):
        if error is None:
            acknowledged.append(int(message.value()))

    sequence = first_sequence
    deadline = time.monotonic() + 60
    while len(acknowledged) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
        try:
            producer.produce(topic, partition=0, value=str(sequence).encode(), on_delivery=delivered)
            sequence += 1
        except BufferError:
            pass
        producer.poll(0.001)
    assert len(acknowledged) >= ACKS_BEFORE_KILL, "the broker acknowledged too little before the deadline"
    # More records in flight, then the crash.
    for _ in range(500):
        producer.produce(topic, partition=0, value=str(sequence).encode(), on_delivery=delivered)
        sequence += 1
    producer.poll(0)
    b.kill9()
    producer.purge()
    producer.flush(10)
    return acknowledged, sequence


def test_acknowledged_records_survive_kill_9_in_order_and_once(broker, topic):
    b = broker(config={"flush": "per-batch"})
    acknowledged: list[int] = []
    sequence = 0
    for _ in range(CYCLES):
        acked, sequence = stream_until_killed(b, topic, sequence)
        acknowledged += acked
        b.start()

    stored = confluent_consume(b.bootstrap, topic, {0: [Rec(None, None, (), 0)] * len(acknowledged)})[0]
    values = [int(record.value) for record in stored]
    assert values == sorted(values), "records are out of order"
    assert len(values) == len(set(values)), "a record is stored twice"
    missing = set(acknowledged) - set(values)
    assert not missing, f"{len(missing)} acknowledged records are gone, e.g. {sorted(missing)[:5]}"


def test_a_segment_cut_inside_a_batch_recovers_to_the_last_whole_batch(broker, topic):
    b = broker()
    with wire.KafkaConnection(b.host, b.port) as connection:
        for index in range(20):
            batch = wire.record_batch([wire.WireRecord(b"k", b"value-%d-%d" % (index, n)) for n in range(3)],
                                      base_timestamp=1_700_000_000_000 + index)
            _, results = wire.parse_produce_v3(connection.request(wire.produce_request(index, topic, 0, batch)))
            assert results[0].error_code == wire.ERROR_NONE
    b.stop()

    segment = sorted(b.partition_dir(topic).glob("*.log"))[-1]
    data = segment.read_bytes()
    batches, trailing = wire.scan_batches(data)
    assert len(batches) == 20 and trailing == 0
    cut = batches[-3].position + batches[-3].size // 2  # inside the third batch from the end
    segment.write_bytes(data[:cut])

    b.start()
    stored = confluent_consume(b.bootstrap, topic, {0: [Rec(None, None, (), 0)] * (17 * 3)})[0]
    assert [record.value for record in stored] == [b"value-%d-%d" % (i, n) for i in range(17) for n in range(3)]

    with wire.KafkaConnection(b.host, b.port) as connection:
        batch = wire.record_batch([wire.WireRecord(b"k", b"after")], base_timestamp=1_700_000_000_000)
        _, results = wire.parse_produce_v3(connection.request(wire.produce_request(99, topic, 0, batch)))
    assert results[0].error_code == wire.ERROR_NONE
    assert results[0].base_offset == 17 * 3
