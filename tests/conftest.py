"""Shared fixtures: every test gets its own database, topic prefix and share group.

Tests run against the machine's real PostgreSQL and Mosquitto (or the ones named
by ``GRIDWATCH_TEST_PG_ADMIN`` / ``GRIDWATCH_TEST_MQTT``); concurrent runs on one
machine never see each other's rows or messages. Every test that reaches them does so
through ``pg_admin_url`` or ``mqtt_broker``, so the ``services`` marker is added here
from the fixtures a test uses; tests that start a server of their own mark themselves.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from gridwatch.retained import clear_retained
from gridwatch.services import mqtt_reachable

RUN_ID = uuid.uuid4().hex[:8]
#: The fixtures through which every test reaches PostgreSQL or Mosquitto; fixtures built
#: on them (fresh_db, migrated_db, running_gateway, publisher, collector...) count too,
#: since ``item.fixturenames`` is the closure.
SERVICE_FIXTURES = frozenset({"pg_admin_url", "mqtt_broker"})


# tryfirst: the mark must be on before pytest's own hook deselects by `-m`.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``services`` on every test that uses a service fixture, so none can forget it."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """DSN of a role that may create databases."""
    return os.environ.get(
        "GRIDWATCH_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
    )


@pytest.fixture
def fresh_db(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database for this test; dropped afterwards. Yields its DSN."""
    from gridwatch.services import scratch_database

    with scratch_database(pg_admin_url, f"gwtest_{RUN_ID}_{uuid.uuid4().hex[:8]}") as dsn:
        yield dsn


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """(host, port) of the shared Mosquitto."""
    return _shared_broker()


def _shared_broker() -> tuple[str, int]:
    spec = os.environ.get("GRIDWATCH_TEST_MQTT", "127.0.0.1:1883")
    host, _, port = spec.rpartition(":")
    return host, int(port)


@pytest.fixture
def topic_prefix() -> Iterator[str]:
    """A topic prefix no other test or run uses; its retained messages go with the test.

    Not through ``mqtt_broker``: a test that only names topics needs no broker.
    """
    prefix = f"gwtest/{RUN_ID}/{uuid.uuid4().hex[:8]}"
    yield prefix
    broker = _shared_broker()
    if mqtt_reachable(*broker, timeout=0.5):
        clear_retained(*broker, prefix)


@pytest.fixture
def share_group() -> str:
    return f"gwtest-{RUN_ID}-{uuid.uuid4().hex[:6]}"
