"""Fixtures for gateway tests: a migrated database, the town of the config folder, a running
gateway (whole, or its API alone), the case API on a manual clock, an MQTT publisher."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.contract import topic
from gateway.db.migrate import migrate
from gateway.process import Gateway
from gridwatch.services import free_port
from gridwatch.settings import Settings, get_settings
from gridwatch.town import Town, load_town
from tests.gateway.auth_support import TEST_SECRET
from tests.gateway.case_api_support import Day, case_day

CONFIG = Path(__file__).resolve().parents[2] / "config"

#: Device id -> unit id, as the town's devices.yaml would give.
REGISTRY: dict[str, str | None] = {"cam-001": "unit-a", "cam-002": "unit-b", "box-7": None}


@pytest.fixture
def migrated_db(fresh_db: str) -> str:
    migrate(fresh_db)
    return fresh_db


@pytest.fixture
def gw_settings(
    migrated_db: str,
    mqtt_broker: tuple[str, int],
    topic_prefix: str,
    share_group: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    host, port = mqtt_broker
    return get_settings(
        snapshot_dir=tmp_path_factory.mktemp("snapshots"),
        database_url=migrated_db,
        mqtt_host=host,
        mqtt_port=port,
        topic_prefix=topic_prefix,
        share_group=share_group,
        http_host="127.0.0.1",
        http_port=free_port(),
        jwt_secret=TEST_SECRET,
    )


@pytest.fixture(scope="module")
def town() -> Town:
    """The town of the repository's config folder."""
    return load_town(CONFIG)


@pytest.fixture
def api(gw_settings: Settings, town: Town) -> Iterator[Gateway]:
    """The gateway with its API and without MQTT ingest."""
    with Gateway(gw_settings, town=town, ingest=False) as gw:
        yield gw


@pytest.fixture
def day(migrated_db: str, town: Town) -> Iterator[Day]:
    """The case API on a manual clock; see case_api_support.case_day."""
    with case_day(migrated_db, town) as d:
        yield d


@pytest.fixture
def town_gateway(gw_settings: Settings, town: Town) -> Iterator[Gateway]:
    """The gateway of the repository's town, consuming and without its API."""
    gw = Gateway(gw_settings, town=town, api=False)
    gw.start()
    try:
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def running_gateway(gw_settings: Settings) -> Iterator[Gateway]:
    with Gateway(gw_settings, registry=REGISTRY) as gw:
        assert gw.consumer is not None
        assert gw.consumer.wait_connected(10), "gateway did not connect to MQTT"
        time.sleep(0.2)  # let the SUBACK arrive before tests publish
        yield gw


class Publisher:
    """A plain MQTT client, like an edge box, publishing raw bytes with QoS 1."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.prefix = prefix
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"gwtest-pub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.received: dict[str, bytes] = {}
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received[message.topic] = bytes(message.payload)

    def send(self, device: str, kind: str, payload: bytes) -> None:
        self.send_topic(topic(self.prefix, device, kind), payload)

    def send_topic(self, name: str, payload: bytes) -> None:
        info = self.client.publish(name, payload, qos=1)
        info.wait_for_publish(5)

    def watch_acks(self, device: str) -> None:
        self.client.subscribe(topic(self.prefix, device, "ack"), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mqtt_broker: tuple[str, int], topic_prefix: str) -> Iterator[Publisher]:
    pub = Publisher(*mqtt_broker, topic_prefix)
    try:
        yield pub
    finally:
        pub.close()


def event_body(device: str, seq: int, **extra: Any) -> dict[str, Any]:
    """A valid contract v1 event from device, with the extra fields added or replaced."""
    body: dict[str, Any] = {
        "v": "1.0",
        "kind": "event",
        "event_id": str(uuid.uuid4()),
        "device_id": device,
        "seq": seq,
        "ts": datetime.now(UTC).isoformat(),
        "rule": "intrusion",
        "category": "intrusion",
        "score": 0.5,
    }
    body.update(extra)
    return body


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until ``check()`` is truthy; fail the test naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(0.05)


def scalar(dsn: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query.encode(), params).fetchone()
    return None if row is None else row[0]


def dispatch_all(dsn: str, town: Town, settings: Settings) -> list[tuple[Any, ...]]:
    """Run the dispatcher over everything queued; the cases' (unit_id, assignee, category)."""
    from dispatch.clock import SystemClock
    from dispatch.config import load_config
    from dispatch.notify import OutboxNotifier
    from dispatch.store import Context
    from dispatch.worker import drain

    ctx = Context(
        town=town,
        config=load_config(CONFIG),
        tz=settings.zone,
        clock=SystemClock(),
        notifier=OutboxNotifier(),
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        drain(conn, ctx)
        return conn.execute("SELECT unit_id, assignee, category FROM cases ORDER BY id").fetchall()
