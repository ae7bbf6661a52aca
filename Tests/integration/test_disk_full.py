"""Disk full: produce gets KAFKA_STORAGE_ERROR, nothing already written is damaged, and writing
resumes at the right offset once there is space again. The data directory is a small tmpfs
mounted by the test (root only) and unmounted afterwards."""

import os
import subprocess

import pytest

from support import wire
from support.wire import KafkaConnection, WireRecord

KAFKA_STORAGE_ERROR = 56


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def produce(connection, correlation_id, topic, value):
    batch = wire.record_batch([WireRecord(b"k", value)], base_timestamp=1_700_000_000_000)
    _, results = wire.parse_produce_v3(connection.request(wire.produce_request(correlation_id, topic, 0, batch)))
    return results[0]


def test_a_full_disk_fails_produce_and_damages_nothing(broker, topic, small_disk):
    b = broker()
    b.stop()
    b.data_dir = small_disk / "data"
    b.data_dir.mkdir()
    b.start()

    value = os.urandom(20_000)
    with KafkaConnection(b.host, b.port) as connection:
        for index in range(10):
            assert produce(connection, index, topic, value).base_offset == index

        ballast = small_disk / "ballast"
        with open(ballast, "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass

        refused = [produce(connection, 100 + attempt, topic, value) for attempt in range(5)]
        assert all(result.error_code == KAFKA_STORAGE_ERROR for result in refused), refused

        ballast.unlink()
        resumed = produce(connection, 200, topic, value)
        assert resumed.error_code == wire.ERROR_NONE
        assert resumed.base_offset == 10, "the failed appends left nothing behind"

    assert b.is_running()
    segment = sorted(b.partition_dir(topic).glob("*.log"))[-1]
    batches, trailing = wire.scan_batches(segment.read_bytes())
    assert trailing == 0
    assert [batch.base_offset for batch in batches] == list(range(11))
    assert all(batch.crc_ok for batch in batches)
