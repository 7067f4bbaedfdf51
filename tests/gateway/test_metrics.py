"""The gateway's /metrics: scraped from a running gateway fed over real MQTT, its ingest
counters equal the rows stored; dead letters carry bounded reasons; live clients show."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.ingest.classify import (
    DATABASE_REJECTED,
    GATEWAY_ERROR,
    Received,
    classify,
    dead_letter,
)
from gateway.ingest.metrics import REASONS, reason_label
from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings
from tests.gateway.auth_support import DUTY, bearer, token_for
from tests.gateway.conftest import CONFIG, REGISTRY, Publisher, event_body, scalar, wait_for
from tests.metrics_support import Scrape, Service, scrape, service_env

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contract_v1"

EVENTS = 40
REPEATS = 5


def _batch(device: str, seq: int, readings: int) -> bytes:
    now = datetime.now(UTC).isoformat()
    items = [
        {"kind": "reading", "device_id": device, "seq": seq + i, "ts": now,
         "sensor": "water_level", "value": 1.0 + i, "unit": "m"}
        for i in range(readings)
    ]  # fmt: skip
    body = {"v": "1.0", "kind": "batch", "device_id": device, "seq": seq + readings - 1, "ts": now,
            "items": items}  # fmt: skip
    return json.dumps(body).encode()


def test_ingest_counters_equal_the_rows_stored(
    running_gateway: Gateway, publisher: Publisher
) -> None:
    dsn = running_gateway.settings.database_url
    events = [event_body("cam-001", seq) for seq in range(1, EVENTS + 1)]
    for ev in events:
        publisher.send("cam-001", "event", json.dumps(ev).encode())
    for ev in events[:REPEATS]:  # redeliveries: counted as duplicates, stored once
        publisher.send("cam-001", "event", json.dumps(ev).encode())
    publisher.send("box-7", "batch", _batch("box-7", 1, readings=3))
    status = json.loads((FIXTURES / "status_online.json").read_text())
    status["ts"] = datetime.now(UTC).isoformat()
    publisher.send("cam-001", "status", json.dumps(status).encode())
    bad = [
        ("cam-001", b"{not json"),
        ("cam-999", json.dumps(event_body("cam-999", 1)).encode()),
        ("cam-002", json.dumps(event_body("cam-001", 99)).encode()),
    ]
    for device, payload in bad:
        publisher.send(device, "event", payload)
    sent = EVENTS + REPEATS + 1 + 1 + len(bad)
    url = f"{running_gateway.url}/metrics"

    def settled() -> Scrape | None:
        # The queue gauges are left out of a scrape whose database read timed out.
        m = scrape(url)
        done = m.value("gridwatch_ingest_messages_received_total") == sent
        done = done and m.value("gridwatch_ingest_batch_messages_sum") == sent
        return m if done and m.has("gridwatch_queue_dispatch_events") else None

    m = wait_for(settled, what="every message committed")
    stored = {
        table: scalar(dsn, f"SELECT count(*) FROM {table}")
        for table in ("events", "readings", "device_status", "dead_letters")
    }
    assert stored == {"events": EVENTS, "readings": 3, "device_status": 1, "dead_letters": 3}
    assert m.value("gridwatch_ingest_events_stored_total") == stored["events"]
    assert m.value("gridwatch_ingest_events_duplicate_total") == REPEATS
    assert m.value("gridwatch_ingest_readings_total") == stored["readings"]
    assert m.value("gridwatch_ingest_statuses_total") == stored["device_status"]
    dead = m.by_label("gridwatch_ingest_dead_letters_total", "reason")
    assert set(dead) == set(REASONS)
    assert sum(dead.values()) == stored["dead_letters"]
    assert dead["unknown_device"] == 1 and dead["contract"] == 2
    # One histogram observation per committed transaction.
    assert m.value("gridwatch_ingest_commit_seconds_count") == m.value(
        "gridwatch_ingest_batches_total"
    )
    assert m.value("gridwatch_ingest_commit_seconds_sum") > 0
    assert m.value("gridwatch_ingest_mqtt_connected") == 1
    assert m.value("gridwatch_ingest_queue_depth") == 0
    # No dispatcher runs: every stored event waits in the dispatch queue.
    assert m.value("gridwatch_queue_dispatch_events") == scalar(
        dsn, "SELECT count(*) FROM dispatch_queue"
    )
    assert m.value("gridwatch_queue_dispatch_events") == EVENTS
    # Counts only: no device, person or event id in any label.
    for device in REGISTRY:
        assert device not in m.text
    assert "cam-999" not in m.text
    assert str(events[0]["event_id"]) not in m.text


def test_live_clients_show_while_a_browser_listens(api: Gateway, gw_settings: Settings) -> None:
    headers = bearer(token_for(gw_settings, DUTY, Role.DUTY_COMMANDER))
    url = f"{api.url}/metrics"
    assert scrape(url).value("gridwatch_live_clients") == 0
    with (
        httpx.Client(base_url=api.url, timeout=10, headers=headers) as client,
        client.stream("GET", "/api/v1/live") as stream,
    ):
        lines = stream.iter_lines()  # kept: a dropped iterator closes the stream
        assert next(lines).startswith("retry:")
        wait_for(lambda: scrape(url).value("gridwatch_live_clients") == 1, what="1 client")
    wait_for(lambda: scrape(url).value("gridwatch_live_clients") == 0, what="client gone")
    # An API-only gateway has no consumer: no ingest metrics, the app's still.
    assert not scrape(url).has("gridwatch_ingest_events_stored_total")


def test_metrics_are_open_like_health_and_each_gateway_has_its_own(
    api: Gateway, gw_settings: Settings
) -> None:
    from gridwatch.services import free_port

    second = Gateway(gw_settings.model_copy(update={"http_port": free_port()}), ingest=False)
    with second:
        for gw in (api, second):
            res = httpx.get(f"{gw.url}/metrics", timeout=10)
            assert res.status_code == 200
            assert "gridwatch_live_clients" in res.text


def test_the_queue_gauges_are_left_out_when_the_database_is_unreachable(
    gw_settings: Settings,
) -> None:
    from gridwatch.services import free_port

    gone = gw_settings.model_copy(
        update={"http_port": free_port(), "database_url": "postgresql://nobody@127.0.0.1:1/x"}
    )
    with Gateway(gone, ingest=False) as gw:
        m = scrape(f"{gw.url}/metrics")
    assert m.has("gridwatch_live_clients")
    assert not m.has("gridwatch_queue_dispatch_events")


def _received(topic: str, payload: bytes) -> Received:
    return Received(topic, payload, datetime.now(UTC), 1, 1, 1)


@pytest.mark.parametrize(
    ("topic", "payload", "label"),
    [
        ("gw/v1/dev/cam-001/event", b"{not json", "contract"),
        ("gw/v1/dev/cam-404/event", (FIXTURES / "event_minimal.json").read_bytes(),
         "unknown_device"),
        ("gw/v1/dev/cam-001/ack", (FIXTURES / "ack_mark.json").read_bytes(), "kind"),
        ("gw/v2/dev/cam-001/event", b"{}", "topic"),
        ("elsewhere/cam-001", b"{}", "topic"),
    ],
)  # fmt: skip
def test_each_dead_letter_gets_a_bounded_reason(topic: str, payload: bytes, label: str) -> None:
    rows = classify([_received(topic, payload)], prefix="gw", registry={"cam-001": "unit-a"})
    [dead] = rows.dead_letters
    assert reason_label(dead) == label
    assert label in REASONS


def test_gateway_and_database_failures_have_their_own_reasons() -> None:
    item = _received("gw/v1/dev/cam-001/event", b"{}")
    assert reason_label(dead_letter(item, f"{GATEWAY_ERROR} boom")) == "gateway_error"
    assert reason_label(dead_letter(item, f"{DATABASE_REJECTED} NUL")) == "database"


@pytest.mark.slow
def test_an_ingest_only_gateway_process_serves_metrics_on_its_own_port(
    migrated_db: str, mqtt_broker: tuple[str, int], topic_prefix: str, share_group: str,
    publisher: Publisher,
) -> None:  # fmt: skip
    env = service_env(migrated_db, mqtt_broker, topic_prefix, share_group, CONFIG)
    gateway = Service(["gateway", "--no-api", "--session-expiry", "0"], env)
    try:
        url = gateway.metrics_url()
        wait_for(lambda: scrape(url).value("gridwatch_ingest_mqtt_connected") == 1, what="MQTT")
        time.sleep(0.3)  # let the SUBACK arrive before publishing
        for seq in range(1, 11):
            publisher.send(
                "cam-demo-1", "event", json.dumps(event_body("cam-demo-1", seq)).encode()
            )
        publisher.send("cam-nobody", "event", json.dumps(event_body("cam-nobody", 1)).encode())
        m = wait_for(
            lambda: (m := scrape(url)).value("gridwatch_ingest_batch_messages_sum") == 11 and m,
            what="11 messages committed",
        )
    finally:
        gateway.stop()
    assert gateway.proc.returncode == 0, gateway.lines
    assert m.value("gridwatch_ingest_events_stored_total") == scalar(
        migrated_db, "SELECT count(*) FROM events"
    )
    assert m.value("gridwatch_ingest_events_stored_total") == 10
    assert m.value("gridwatch_ingest_dead_letters_total", reason="unknown_device") == scalar(
        migrated_db, "SELECT count(*) FROM dead_letters"
    )
    assert scalar(migrated_db, "SELECT count(*) FROM dead_letters") == 1
