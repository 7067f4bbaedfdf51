"""End to end over real Mosquitto and PostgreSQL: store once, dead-letter the bad, keep going."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.process import Gateway
from gridwatch.settings import Settings
from tests.gateway.conftest import Publisher, event_body, scalar, wait_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contract_v1"


def event(device: str = "cam-001", seq: int = 1, **extra: object) -> dict[str, object]:
    located = {
        "score": 0.8,
        "point": {"lon": 119.0075, "lat": 25.4541},
        "snapshot": {"sha256": "ab" * 32, "ref": "snapshots/x.jpg"},
    }
    return event_body(device, seq, **{**located, **extra})


def raw(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()


def test_event_published_twice_is_stored_once_with_one_queue_row(
    running_gateway: Gateway, publisher: Publisher
) -> None:
    dsn = running_gateway.settings.database_url
    ev = event(seq=5)
    publisher.send("cam-001", "event", raw(ev))
    publisher.send("cam-001", "event", raw(ev))
    later = event(seq=6)
    publisher.send("cam-001", "event", raw(later))
    wait_for(lambda: scalar(dsn, "SELECT count(*) FROM events WHERE seq = 6") == 1, what="seq 6")
    assert scalar(dsn, "SELECT count(*) FROM events WHERE event_id = %s", (ev["event_id"],)) == 1
    assert scalar(dsn, "SELECT count(*) FROM dispatch_queue") == 2
    row = scalar(
        dsn,
        "SELECT json_build_object('unit', unit_id, 'lon', lon, 'sha', snapshot_sha256,"
        " 'skewed', clock_skewed) FROM events WHERE event_id = %s",
        (ev["event_id"],),
    )
    assert row == {"unit": "unit-a", "lon": 119.0075, "sha": "ab" * 32, "skewed": False}


def test_bad_messages_are_dead_lettered_and_the_gateway_keeps_serving(
    running_gateway: Gateway, publisher: Publisher
) -> None:
    dsn = running_gateway.settings.database_url
    bad = {
        "not JSON": ("cam-001", b"{not json"),
        "wrong schema": ("cam-001", raw({**event(), "severity": 9})),
        "unknown device": ("cam-999", raw(event(device="cam-999"))),
        "spoofed device": ("cam-002", raw(event(device="cam-001"))),
        "NaN": ("cam-001", b'{"v":"1.0","kind":"event","score":NaN}'),
        "NUL": ("cam-001", raw(event(summary="a\u0000b"))),
    }
    for device, payload in bad.values():
        publisher.send(device, "event", payload)
    publisher.send_topic(f"{publisher.prefix}/v1/dev/cam-001/event/extra", b"{}")
    good = event(seq=10)
    publisher.send("cam-001", "event", raw(good))

    wait_for(
        lambda: scalar(dsn, "SELECT count(*) FROM events WHERE event_id = %s", (good["event_id"],)),
        what="the valid event after the bad ones",
    )
    reasons = wait_for(
        lambda: (
            (r := scalar(dsn, "SELECT array_agg(reason ORDER BY id) FROM dead_letters"))
            and len(r) >= len(bad)
            and r
        ),
        what="dead letters",
    )
    text = "\n".join(reasons)
    assert "not JSON" in text
    assert "event.severity" in text
    assert "unknown device 'cam-999'" in text
    assert "does not match topic device 'cam-002'" in text
    assert "NaN" in text
    assert "NUL" in text
    # Raw bytes are kept for the operator.
    assert scalar(dsn, "SELECT payload FROM dead_letters WHERE reason LIKE 'not JSON%%'") == (
        b"{not json"
    )
    assert scalar(dsn, "SELECT count(*) FROM events") == 1
    health = httpx.get(f"{running_gateway.url}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["db"] is True and health.json()["mqtt"] is True


def test_committed_mark_is_published_retained_per_device(
    running_gateway: Gateway, publisher: Publisher
) -> None:
    publisher.watch_acks("box-7")
    batch = json.loads((FIXTURES / "batch_mixed.json").read_text())
    batch["ts"] = datetime.now(UTC).isoformat()
    publisher.send("box-7", "batch", raw(batch))
    ack_topic = f"{publisher.prefix}/v1/dev/box-7/ack"
    wait_for(lambda: ack_topic in publisher.received, what="an ack for box-7")
    ack = json.loads(publisher.received[ack_topic])
    assert ack["committed_seq"] == 102
    dsn = running_gateway.settings.database_url
    assert scalar(dsn, "SELECT count(*) FROM readings WHERE device_id = 'box-7'") == 2


def test_skewed_clock_is_flagged_and_status_is_upserted(
    running_gateway: Gateway, publisher: Publisher
) -> None:
    dsn = running_gateway.settings.database_url
    old = event("cam-002", seq=3, ts=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    publisher.send("cam-002", "event", raw(old))
    status = json.loads((FIXTURES / "status_online.json").read_text())
    status["device_id"] = "cam-002"
    publisher.send("cam-002", "status", raw(status))
    wait_for(lambda: scalar(dsn, "SELECT count(*) FROM device_status"), what="device status")
    wait_for(lambda: scalar(dsn, "SELECT count(*) FROM events"), what="the skewed event")
    assert scalar(dsn, "SELECT clock_skewed FROM events") is True
    assert scalar(dsn, "SELECT state FROM device_status_live WHERE device_id = 'cam-002'") == (
        "online"
    )


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/"])
def test_pages_answer_offline(running_gateway: Gateway, path: str) -> None:
    res = httpx.get(f"{running_gateway.url}{path}", timeout=5)
    assert res.status_code == 200
    assert "cdn" not in res.text.lower()


def test_losing_the_database_connection_mid_stream_loses_and_duplicates_nothing(
    running_gateway: Gateway, publisher: Publisher
) -> None:
    from gateway.ingest.consumer import APPLICATION_NAME

    dsn = running_gateway.settings.database_url
    consumer = running_gateway.consumer
    assert consumer is not None
    sent = [event("cam-001", seq=i) for i in range(60)]
    killed = 0
    for i, body in enumerate(sent):
        publisher.send("cam-001", "event", raw(body))
        if i % 20 == 10:
            killed += scalar(
                dsn,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                (APPLICATION_NAME,),
            )
    wait_for(lambda: scalar(dsn, "SELECT count(*) FROM events") >= len(sent), what="all events")
    assert killed >= 1
    assert consumer.stats.db_errors >= 1
    assert scalar(dsn, "SELECT count(*) FROM events") == len(sent)
    assert scalar(dsn, "SELECT count(DISTINCT event_id) FROM events") == len(sent)
    assert scalar(dsn, "SELECT count(*) FROM dispatch_queue") == len(sent)
    assert scalar(dsn, "SELECT committed_seq FROM ingest_marks WHERE device_id = 'cam-001'") == 59


def test_persistent_session_receives_what_was_published_while_the_gateway_was_away(
    gw_settings: Settings, publisher: Publisher
) -> None:
    from gateway.process import consumer_config

    config = consumer_config(
        gw_settings, client_id=f"gwtest-{uuid.uuid4().hex[:10]}", session_expiry_s=60
    )
    first = Gateway(gw_settings, registry={"cam-001": "unit-a"}, api=False, consumer=config)
    first.start()
    assert first.consumer is not None and first.consumer.wait_connected(10)
    time.sleep(0.3)
    first.stop()
    away = [event("cam-001", seq=i) for i in range(5)]
    for body in away:
        publisher.send("cam-001", "event", raw(body))
    second = Gateway(gw_settings, registry={"cam-001": "unit-a"}, api=False, consumer=config)
    second.start()
    try:
        dsn = gw_settings.database_url
        wait_for(
            lambda: scalar(dsn, "SELECT count(*) FROM events") == len(away),
            what="the events published while the gateway was away",
        )
    finally:
        second.stop()
        # Leave no session behind on the shared broker.
        cleanup = consumer_config(gw_settings, client_id=config.client_id, session_expiry_s=0)
        third = Gateway(gw_settings, registry={}, api=False, consumer=cleanup)
        third.start()
        assert third.consumer is not None and third.consumer.wait_connected(10)
        third.stop()
