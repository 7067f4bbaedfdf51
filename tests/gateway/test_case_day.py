"""A scripted day over HTTP on a controlled clock: a case from a camera's event to close.

The same day as tests/dispatch/test_case_day_db.py, now through the case API with
bearer tokens: opened by a sanitation event (severity 3: 240 working minutes to
accept, 1,440 to resolve), accepted, started and resolved by its unit leader,
verified by the grid leader, followed up (回访) unsatisfied, so back for rework
with a fresh resolve deadline, resolved again, verified and closed. Every step is
in the history with its actor and in the audit log with its request id.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from dispatch.clock import ManualClock
from dispatch.config import load_config
from dispatch.notify import OutboxNotifier
from dispatch.store import Context
from dispatch.worker import drain
from gateway.api.app import create_app
from gridwatch.domain import Role
from gridwatch.settings import Settings, get_settings
from gridwatch.town import Town, load_town
from tests.conftest import free_port
from tests.dispatch.conftest import insert_event
from tests.gateway.auth_support import TEST_SECRET, bearer, token_for

pytestmark = pytest.mark.services

CONFIG = Path(__file__).resolve().parents[2] / "config"
TZ = ZoneInfo("Asia/Shanghai")
UNIT = "V01-G01-U02"
OTHER_UNIT = "V01-G01-U03"
PHOTO = {"sha256": "ab" * 32, "ref": "evidence/2025/09/16/clean-1.jpg"}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 9, day, hour, minute, tzinfo=TZ)


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(TZ)


@dataclass(frozen=True)
class Day:
    client: httpx.Client
    clock: ManualClock
    settings: Settings
    ctx: Context
    headers: dict[str, dict[str, str]]  # who -> Authorization header
    people: dict[str, str]  # who -> person id


@pytest.fixture(scope="module")
def town() -> Town:
    return load_town(CONFIG)


@pytest.fixture
def day(migrated_db: str, town: Town) -> Iterator[Day]:
    settings = get_settings(database_url=migrated_db, jwt_secret=TEST_SECRET, config_dir=CONFIG)
    # A Tuesday morning, away from holidays.
    clock = ManualClock(local(16, 9).astimezone(UTC))
    ctx = Context(
        town=town, config=load_config(CONFIG), tz=TZ, clock=clock, notifier=OutboxNotifier()
    )
    chain = town.hierarchy.chain(UNIT)
    other = town.hierarchy.chain(OTHER_UNIT)[0]
    assert chain[0].leader and chain[1].leader and other.leader
    people = {
        "unit": chain[0].leader.person_id,
        "grid": chain[1].leader.person_id,
        "other_unit": other.leader.person_id,
    }
    roles = {"unit": Role.UNIT_LEADER, "grid": Role.GRID_LEADER, "other_unit": Role.UNIT_LEADER}
    headers = {w: bearer(token_for(settings, people[w], roles[w])) for w in people}
    with (
        serve(create_app(settings, town, clock=clock)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield Day(client, clock, settings, ctx, headers, people)


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app behind a real uvicorn server in a thread, as the gateway runs it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def open_case(day: Day, town: Town) -> int:
    """The camera's event at 09:00, dispatched as the dispatcher's loop would."""
    p = town.hierarchy.geometries[UNIT].representative_point()
    with psycopg.connect(day.settings.database_url, autocommit=True) as conn:
        insert_event(conn, ts=day.clock.now(), category="sanitation", severity=3, lon=p.x, lat=p.y)
        drain(conn, day.ctx)
        row = conn.execute("SELECT id FROM cases").fetchone()
    assert row is not None
    return int(row[0])


def act(day: Day, who: str, case_id: int, body: dict[str, Any], *, key: str | None = None) -> Any:
    headers = dict(day.headers[who])
    if key is not None:
        headers["Idempotency-Key"] = key
    return day.client.post(f"/api/v1/cases/{case_id}/actions", json=body, headers=headers)


def deadlines(case: dict[str, Any]) -> tuple[datetime | None, ...]:
    return (at(case["accept_by"]), at(case["resolve_by"]), at(case["next_escalation_at"]))


def test_a_day_from_event_to_close_over_http(day: Day, town: Town) -> None:
    case_id = open_case(day, town)
    case = day.client.get(f"/api/v1/cases/{case_id}", headers=day.headers["unit"]).json()
    assert (case["status"], case["assignee"]) == ("assigned", day.people["unit"])
    # 240 working minutes: 09:00-12:00 and 14:00-15:00; 1,440 (7 h a day): to Friday noon.
    assert deadlines(case) == (local(16, 15), local(19, 12), local(16, 15))

    # Another unit's leader does not see the case at all.
    res = act(day, "other_unit", case_id, {"action": "accept"})
    assert res.status_code == 404

    # 09:30 the unit leader accepts: the case now escalates at its resolve deadline.
    # The app on a flaky line sends it twice with one Idempotency-Key: one acceptance.
    day.clock.set(local(16, 9, 30))
    first = act(day, "unit", case_id, {"action": "accept", "note": "收到"}, key="accept-1")
    assert first.status_code == 200, first.text
    again = act(day, "unit", case_id, {"action": "accept", "note": "收到"}, key="accept-1")
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = act(day, "unit", case_id, {"action": "start"}, key="accept-1")
    assert reused.status_code == 422 and "Idempotency-Key" in reused.text
    case = first.json()
    assert case["status"] == "accepted"
    assert deadlines(case) == (local(16, 15), local(19, 12), local(19, 12))

    # Someone else's case: the grid leader may not accept it, in any state.
    res = act(day, "grid", case_id, {"action": "accept"})
    assert res.status_code == 403
    detail = res.json()["detail"]
    assert (detail["role"], detail["action"]) == ("grid_leader", "accept")

    day.clock.set(local(16, 10))
    assert act(day, "unit", case_id, {"action": "start"}).status_code == 200
    day.clock.set(local(16, 11))
    res = act(day, "unit", case_id, {"action": "resolve", "note": "已清运", "photos": [PHOTO]})
    assert res.status_code == 200, res.text
    case = res.json()
    assert (case["status"], at(case["resolved_at"]), case["next_escalation_at"]) == (
        "resolved",
        local(16, 11),
        None,
    )
    res = act(day, "unit", case_id, {"action": "verify"})
    assert res.status_code == 403 and res.json()["detail"]["role"] == "unit_leader"

    # 14:30 the grid leader checks the work on the spot.
    day.clock.set(local(16, 14, 30))
    case = act(day, "grid", case_id, {"action": "verify", "note": "现场已核查"}).json()
    assert case["status"] == "verified"

    # 16:00 the follow-up call: not satisfied (2). Back for rework, with 1,440 fresh
    # working minutes to resolve: Tuesday 16:00-17:30 ... Monday 22nd 08:30-10:00.
    day.clock.set(local(16, 16))
    res = act(day, "grid", case_id, {"action": "follow_up", "rating": 2, "note": "角落仍有垃圾"})
    assert res.status_code == 200, res.text
    case = res.json()
    assert (case["status"], case["returns"], case["rating"], case["satisfied"]) == (
        "in_progress",
        1,
        2,
        False,
    )
    assert deadlines(case) == (local(16, 15), local(22, 10), local(22, 10))
    # In rework there is nothing to return or close: 409 naming the status and action.
    res = act(day, "grid", case_id, {"action": "close"})
    assert res.status_code == 409
    detail = res.json()["detail"]
    assert (detail["status"], detail["action"]) == ("in_progress", "close")
    assert "resolve" in detail["allowed"]

    # Wednesday: resolved again, verified, closed.
    day.clock.set(local(17, 9))
    case = act(day, "unit", case_id, {"action": "resolve", "note": "二次清运"}).json()
    assert (case["status"], case["next_escalation_at"]) == ("resolved", None)
    day.clock.set(local(17, 10))
    assert act(day, "grid", case_id, {"action": "verify"}).json()["status"] == "verified"
    day.clock.set(local(17, 11))
    res = act(day, "grid", case_id, {"action": "close", "note": "结案"})
    assert res.status_code == 200, res.text
    case = res.json()
    assert (case["status"], at(case["closed_at"]), case["returns"]) == (
        "closed",
        local(17, 11),
        1,
    )

    unit, grid = day.people["unit"], day.people["grid"]
    steps = [
        (at(h["at"]), h["actor"], h["action"], h["from_status"], h["to_status"])
        for h in case["history"]
    ]
    assert steps == [
        (local(16, 9), "dispatcher", "created", None, "new"),
        (local(16, 9), "dispatcher", "assigned", "new", "assigned"),
        (local(16, 9, 30), unit, "accept", "assigned", "accepted"),
        (local(16, 10), unit, "start", "accepted", "in_progress"),
        (local(16, 11), unit, "resolve", "in_progress", "resolved"),
        (local(16, 14, 30), grid, "verify", "resolved", "verified"),
        (local(16, 16), grid, "rate_unsatisfied", "verified", "in_progress"),
        (local(17, 9), unit, "resolve", "in_progress", "resolved"),
        (local(17, 10), grid, "verify", "resolved", "verified"),
        (local(17, 11), grid, "close", "verified", "closed"),
    ]
    assert case["history"][4]["data"]["photos"] == [PHOTO]
    assert at(case["history"][6]["data"]["resolve_by"]) == local(22, 10)

    # The audit log has each write once, with who, what, target, when and request id.
    with psycopg.connect(day.settings.database_url) as conn:
        audit = conn.execute(
            "SELECT at, subject, action, target, request_id FROM audit_log ORDER BY id"
        ).fetchall()
    assert [(a.astimezone(TZ), s, act_, t) for a, s, act_, t, _ in audit] == [
        (local(16, 9, 30), unit, "case.accept", f"case:{case_id}"),
        (local(16, 10), unit, "case.start", f"case:{case_id}"),
        (local(16, 11), unit, "case.resolve", f"case:{case_id}"),
        (local(16, 14, 30), grid, "case.verify", f"case:{case_id}"),
        (local(16, 16), grid, "case.follow_up", f"case:{case_id}"),
        (local(17, 9), unit, "case.resolve", f"case:{case_id}"),
        (local(17, 10), grid, "case.verify", f"case:{case_id}"),
        (local(17, 11), grid, "case.close", f"case:{case_id}"),
    ]
    assert audit[-1][4] == res.headers["X-Request-ID"]
