"""The HTTP API against a real uvicorn server: live push, events, hierarchy, health."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.api.live import LiveHub
from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings
from gridwatch.town import Town
from tests.gateway.auth_support import DUTY, bearer, token_for
from tests.gateway.conftest import wait_for

CONFIG = Path(__file__).parent.parent.parent / "config"


@pytest.fixture
def duty(gw_settings: Settings) -> dict[str, str]:
    """Headers of the duty commander, who sees the whole town."""
    return bearer(token_for(gw_settings, DUTY, Role.DUTY_COMMANDER))


def insert_event(
    dsn: str, *, unit: str, category: str, ts: datetime, device: str = "cam-0001"
) -> str:
    event_id = str(uuid.uuid4())
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO events (event_id, ts, device_id, seq, rule, category, unit_id, lon, lat,"
            " score, extra) VALUES (%s, %s, %s, 1, 'intrusion', %s, %s, 119.0, 25.4, 0.9, '{}')",
            (event_id, ts, device, category, unit),
        )
    return event_id


def test_live_stream_delivers_event_and_case_notifications(
    api: Gateway, duty: dict[str, str]
) -> None:
    dsn = api.settings.database_url
    got: dict[str, dict[str, object]] = {}
    with httpx.Client(base_url=api.url, timeout=10, headers=duty) as client:
        wait_for(lambda: client.get("/health").json()["live"], what="LISTEN connection")
        with client.stream("GET", "/api/v1/live") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            wait_for(lambda: client.get("/health").json()["live_clients"] == 1, what="subscriber")
            event_id = insert_event(
                dsn, unit="V01-G01-U02", category="intrusion", ts=datetime.now(UTC)
            )
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_notify('gridwatch_live', %s)",
                    (json.dumps({"type": "case", "id": 7, "unit_id": "V01-G01-U02"}),),
                )
            kind = None
            deadline = time.monotonic() + 10
            for line in lines:
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind:
                    got[kind] = json.loads(line.removeprefix("data: "))
                if len(got) == 2 or time.monotonic() > deadline:
                    break
    assert got["event"]["event_id"] == event_id
    assert got["event"]["unit_id"] == "V01-G01-U02"
    assert got["event"]["score"] == pytest.approx(0.9)
    assert got["case"] == {"type": "case", "id": 7, "unit_id": "V01-G01-U02"}


def test_slow_client_is_dropped_and_told_while_others_keep_receiving() -> None:
    async def scenario() -> tuple[int, bool, bool, bytes]:
        hub = LiveHub("postgresql://unused", client_queue=3)
        fast, slow = hub.subscribe(), hub.subscribe()
        received = 0
        for i in range(10):
            hub.publish(json.dumps({"type": "event", "n": i}))
            while not fast.queue.empty():
                fast.queue.get_nowait()
                received += 1
        from gateway.api.live import sse_stream

        frames = [f async for f in sse_stream(hub, slow)]
        return received, fast.overflowed, slow.overflowed, frames[-1]

    received, fast_over, slow_over, last = asyncio.run(scenario())
    assert received == 10 and not fast_over
    assert slow_over
    assert last.startswith(b"event: dropped")


def test_events_filter_by_unit_category_and_time(api: Gateway, duty: dict[str, str]) -> None:
    dsn = api.settings.database_url
    now = datetime.now(UTC)
    a = insert_event(dsn, unit="V01-G01-U02", category="intrusion", ts=now - timedelta(hours=3))
    b = insert_event(dsn, unit="V01-G01-U02", category="crowding", ts=now - timedelta(hours=1))
    c = insert_event(dsn, unit="V02-G03-U02", category="intrusion", ts=now)
    with httpx.Client(base_url=api.url, timeout=10, headers=duty) as client:
        ids = [e["event_id"] for e in client.get("/api/v1/events").json()]
        assert ids == [c, b, a]
        unit = client.get("/api/v1/events", params={"unit": "V01-G01-U02"}).json()
        assert [e["event_id"] for e in unit] == [b, a]
        cat = client.get("/api/v1/events", params={"category": "intrusion", "limit": 1}).json()
        assert [e["event_id"] for e in cat] == [c]
        since = (now - timedelta(hours=2)).isoformat()
        recent = client.get("/api/v1/events", params={"since": since}).json()
        assert [e["event_id"] for e in recent] == [c, b]
        assert client.get("/api/v1/events", params={"limit": 1001}).status_code == 422
        naive = client.get("/api/v1/events", params={"since": "2026-01-01T00:00:00"})
        assert naive.status_code == 422


def test_hierarchy_is_the_towns_geojson(api: Gateway, town: Town, duty: dict[str, str]) -> None:
    geo = httpx.get(f"{api.url}/api/v1/hierarchy", timeout=10, headers=duty).json()
    assert geo["type"] == "FeatureCollection"
    ids = {f["properties"]["id"] for f in geo["features"]}
    assert set(town.hierarchy.areas) == ids
    levels = {f["properties"]["level"] for f in geo["features"]}
    assert {"town", "village", "grid", "unit"} <= levels


def test_health_without_ingest_reports_db_and_no_mqtt(api: Gateway) -> None:
    body = httpx.get(f"{api.url}/health", timeout=10).json()
    assert body["db"] is True and body["mqtt"] is None and body["status"] == "ok"
    assert body["dispatch_backlog"] == 0 and body["dispatch_oldest_s"] is None


def test_health_shows_how_many_events_wait_for_dispatch_and_for_how_long(api: Gateway) -> None:
    """A stopped dispatcher shows on /health before a leader misses a case."""
    with psycopg.connect(api.settings.database_url, autocommit=True) as conn:
        for waited in ("10 minutes", "2 minutes"):
            conn.execute(
                "INSERT INTO dispatch_batches (event_ids, ts, enqueued_at)"
                " VALUES (ARRAY[%s, %s]::uuid[], ARRAY[now(), now()], now() - %s::interval)",
                (uuid.uuid4(), uuid.uuid4(), waited),
            )
        conn.execute("UPDATE dispatch_batches SET done = 1 WHERE id = 1")  # one of two taken
    body = httpx.get(f"{api.url}/health", timeout=10).json()
    assert body["dispatch_backlog"] == 3
    assert 600 <= body["dispatch_oldest_s"] < 900


def test_health_is_degraded_when_the_database_is_unreachable(
    gw_settings: Settings,
) -> None:
    from gridwatch.services import free_port

    closed = gw_settings.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/none"}
    )
    gw = Gateway(closed, ingest=False)
    gw.start()
    try:
        res = httpx.get(f"{gw.url}/health", timeout=10)
    finally:
        gw.stop()
    assert res.status_code == 503
    assert res.json()["db"] is False and res.json()["status"] == "degraded"


def test_cases_api_is_served_by_the_gateway(api: Gateway, duty: dict[str, str]) -> None:
    res = httpx.get(f"{api.url}/api/v1/cases", timeout=10, headers=duty)
    assert res.status_code == 200


def test_console_loads_nothing_from_outside() -> None:
    import re

    static = Path(__file__).parent.parent.parent / "gateway" / "api" / "static"
    for path in static.iterdir():
        text = path.read_text(encoding="utf-8")
        # The SVG namespace is an identifier, not a download.
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.\w+", text)) - {"http://www.w3.org"}
        assert not urls, f"{path.name} refers to {urls}"
    assert {"index.html", "console.js", "console.css"} <= {p.name for p in static.iterdir()}


def test_reconnecting_client_gets_what_it_missed_or_is_told_to_reload() -> None:
    from gateway.api.live import HISTORY

    async def scenario() -> None:
        hub = LiveHub("postgresql://unused", client_queue=5)
        for i in range(1, 8):
            hub.publish(json.dumps({"type": "event", "n": i}))
        back = hub.subscribe(f"{hub.epoch}-4")
        assert [back.queue.get_nowait().id for _ in range(back.queue.qsize())] == [5, 6, 7]
        assert not back.gap
        assert hub.subscribe(f"{hub.epoch}-7").queue.empty()
        assert hub.subscribe("0ld3p0ch-4").gap  # from before a restart
        too_far = hub.subscribe(f"{hub.epoch}-0")
        assert too_far.gap and too_far.queue.qsize() == 5  # more missed than its queue holds
        for i in range(HISTORY):
            hub.publish(json.dumps({"type": "event", "n": i}))
        assert hub.subscribe(f"{hub.epoch}-6").gap  # the history no longer reaches back

    asyncio.run(scenario())


def test_live_stream_replays_after_last_event_id(api: Gateway, duty: dict[str, str]) -> None:
    dsn = api.settings.database_url
    with httpx.Client(base_url=api.url, timeout=10, headers=duty) as client:
        wait_for(lambda: client.get("/health").json()["live"], what="LISTEN connection")
        first_id = None
        with client.stream("GET", "/api/v1/live") as stream:
            wait_for(lambda: client.get("/health").json()["live_clients"] == 1, what="subscriber")
            insert_event(dsn, unit="V01-G01-U02", category="intrusion", ts=datetime.now(UTC))
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    first_id = line.removeprefix("id: ")
                    break
        assert first_id is not None
        # Missed while disconnected:
        missed = insert_event(dsn, unit="V01-G01-U02", category="crowding", ts=datetime.now(UTC))
        wait_for(
            lambda: client.get("/health").json()["live_notifications"] >= 2,
            what="the hub to receive the second notification",
        )
        with client.stream("GET", "/api/v1/live", headers={"Last-Event-ID": first_id}) as stream:
            replayed = None
            for line in stream.iter_lines():
                if line.startswith("data: ") and "event_id" in line:
                    replayed = json.loads(line.removeprefix("data: "))["event_id"]
                    break
        assert replayed == missed


def test_a_skewed_clock_does_not_keep_its_event_on_top(api: Gateway, duty: dict[str, str]) -> None:
    """A box whose clock says 2099 is listed by when the gateway received the event."""
    dsn = api.settings.database_url
    now = datetime.now(UTC)
    fresh = insert_event(dsn, unit="V01-G01-U02", category="intrusion", ts=now)
    skewed = insert_event(
        dsn, unit="V01-G01-U02", category="intrusion", ts=datetime(2099, 1, 1, tzinfo=UTC)
    )
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE events SET clock_skewed = true, received_at = %s WHERE event_id = %s",
            (now - timedelta(minutes=5), skewed),
        )
    with httpx.Client(base_url=api.url, timeout=10, headers=duty) as client:
        ids = [e["event_id"] for e in client.get("/api/v1/events").json()]
        assert ids == [fresh, skewed]
        one = client.get(f"/api/v1/events/{skewed}")
        assert one.status_code == 200 and one.json()["clock_skewed"] is True
        assert client.get(f"/api/v1/events/{uuid.uuid4()}").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/events", {"since": "0.5"}, "since"),
        ("/api/v1/events", {"since": "1700000000"}, "since"),
        ("/api/v1/events", {"unit": "\x00"}, "unit"),
        ("/api/v1/events", {"limit": "ten"}, "limit"),
        ("/api/v1/cases", {"unit": "\x00"}, "unit"),
        ("/api/v1/cases", {"category": "x" * 65}, "category"),
        ("/api/v1/cases", {"cursor": "-1"}, "cursor"),
        ("/api/v1/cases", {"overdue": "perhaps"}, "overdue"),
        ("/api/v1/cases/0", {}, "case_id"),
        ("/api/v1/cases/99999999999999999999", {}, "case_id"),
    ],
)
def test_bad_query_values_are_422_naming_the_field(
    api: Gateway, duty: dict[str, str], path: str, params: dict[str, str], field: str
) -> None:
    res = httpx.get(f"{api.url}{path}", params=params, timeout=10, headers=duty)
    assert res.status_code == 422, res.text
    assert field in {str(part) for err in res.json()["detail"] for part in err["loc"]}


def test_devices_show_a_cameras_field_of_view_where_its_homography_gives_one(
    api: Gateway, duty: dict[str, str], town: Town
) -> None:
    with httpx.Client(base_url=api.url, timeout=10, headers=duty) as client:
        got = {d["id"]: d for d in client.get("/api/v1/devices").json()}
    demo = town.devices["cam-demo-1"]
    assert demo.homography is not None
    view = got["cam-demo-1"]["field_of_view"]
    assert view["type"] == "Polygon"
    ring = view["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    # The demo's reference points are the frame's corners: the view is their quadrilateral.
    corners = {(round(p.lon, 6), round(p.lat, 6)) for p in demo.homography}
    assert {(round(x, 6), round(y, 6)) for x, y in ring} == corners
    plain = [d for d in town.devices.values() if d.homography is None]
    assert plain and all(got[d.id]["field_of_view"] is None for d in plain if d.id in got)
