"""Fixtures for the real-client tests: broker processes and unique topic names.

    def test_something(broker, topic):
        b = broker(config={"num-partitions": 3})   # started and ready
        ... talk to b.bootstrap ...
        b.kill9(); b.restart()

Every broker a test starts is stopped when the test ends. When a test fails, the tail of each of
its brokers' logs (stdout and stderr) is attached to the failure report.
"""

from __future__ import annotations

import re
import uuid

import pytest

from support.broker import Broker


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for started in getattr(item, "strait_brokers", []):
            report.sections.append((f"broker {started.name} log", started.log_tail()))


@pytest.fixture
def broker(request, tmp_path):
    """Factory: `broker(config=None)` starts a broker on a free 127.0.0.1 port with a fresh data dir."""
    started: list[Broker] = []
    request.node.strait_brokers = started

    def start(config: dict | None = None, **placement) -> Broker:
        name = f"b{len(started)}"
        instance = Broker(tmp_path / name, name, config, **placement)
        started.append(instance)
        return instance.start()

    yield start
    for instance in started:
        instance.teardown()


@pytest.fixture
def topic(request) -> str:
    """A topic name unique to this test (and this run): the test's name plus a random suffix."""
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:60]
    return f"{base}-{uuid.uuid4().hex[:8]}"
