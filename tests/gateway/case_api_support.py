"""Case API tests' harness: the app on a controlled clock behind a real server, leaders'
tokens, and cases opened by events through the dispatcher, as in production."""

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
import uvicorn
from fastapi import FastAPI

from dispatch.clock import ManualClock
from dispatch.config import load_config
from dispatch.notify import OutboxNotifier
from dispatch.store import Context
from dispatch.worker import drain
from gateway.api.app import create_app
from gridwatch.domain import Role
from gridwatch.services import free_port
from gridwatch.settings import Settings, get_settings
from gridwatch.town import Town
from tests.dispatch.conftest import insert_event
from tests.gateway.auth_support import DUTY, TEST_SECRET, bearer, token_for

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
    app: FastAPI
    client: httpx.Client
    clock: ManualClock
    settings: Settings
    ctx: Context
    headers: dict[str, dict[str, str]]  # who -> Authorization header
    people: dict[str, str]  # who -> person id


@contextlib.contextmanager
def case_day(migrated_db: str, town: Town) -> Iterator[Day]:
    """The app on a ManualClock at 09:00 on Tuesday 16 September 2025, with tokens for
    the leaders of UNIT and its grid, another unit's leader and the duty commander."""
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
        "duty": DUTY,
    }
    roles = {
        "unit": Role.UNIT_LEADER,
        "grid": Role.GRID_LEADER,
        "other_unit": Role.UNIT_LEADER,
        "duty": Role.DUTY_COMMANDER,
    }
    headers = {w: bearer(token_for(settings, people[w], roles[w])) for w in people}
    app = create_app(settings, town, clock=clock)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield Day(app, client, clock, settings, ctx, headers, people)


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


def open_case(day: Day, town: Town, category: str = "sanitation", severity: int = 3) -> int:
    """A camera's event in UNIT now, dispatched as the dispatcher's loop would."""
    p = town.hierarchy.geometries[UNIT].representative_point()
    with psycopg.connect(day.settings.database_url, autocommit=True) as conn:
        insert_event(
            conn, ts=day.clock.now(), category=category, severity=severity, lon=p.x, lat=p.y
        )
        drain(conn, day.ctx)
        row = conn.execute("SELECT max(id) FROM cases").fetchone()
    assert row is not None
    return int(row[0])


def act(day: Day, who: str, case_id: int, body: dict[str, Any], *, key: str | None = None) -> Any:
    headers = dict(day.headers[who])
    if key is not None:
        headers["Idempotency-Key"] = key
    return day.client.post(f"/api/v1/cases/{case_id}/actions", json=body, headers=headers)
