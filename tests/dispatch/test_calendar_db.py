"""An event whose deadline needs a year the calendar lacks waits, logged, and is not lost."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dispatch.clock import ManualClock
from dispatch.config import load_config
from dispatch.store import Context
from dispatch.worker import drain
from tests.dispatch.conftest import TownFixture, insert_event
from tests.dispatch.test_workcal import TEST_2027

pytestmark = pytest.mark.services
SH = ZoneInfo("Asia/Shanghai")


def counts(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM dispatch_parked),"
        " queued_for_dispatch()"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_a_deadline_past_the_calendar_parks_the_event_until_the_calendar_has_the_year(
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 16:00 on New Year's Eve 2026: a dispute's 240 working minutes to accept run into 2027.
    clock.set(datetime(2026, 12, 31, 16, 0, tzinfo=SH))
    lon, lat = zhongmen.point_in(zhongmen.unit(3))
    dispute = insert_event(conn, ts=clock.now(), lon=lon, lat=lat, category="dispute", severity=3)
    fx, fy = zhongmen.point_in(zhongmen.unit(9))
    insert_event(conn, ts=clock.now(), lon=fx, lat=fy, category="fire_smoke", severity=1)

    with caplog.at_level("ERROR", logger="dispatch.parked"):
        drain(conn, ctx)
    # The fire behind it is dispatched; the dispute is set aside, not dropped, not guessed.
    assert counts(conn) == (1, 1, 0)
    assert conn.execute("SELECT category FROM cases").fetchone() == ("fire_smoke",)
    parked = conn.execute("SELECT event_id, year, reason FROM dispatch_parked").fetchone()
    assert parked is not None and parked[:2] == (dispute, 2027) and "calendar.yaml" in parked[2]
    assert any(str(dispute) in r.getMessage() and "2027" in r.getMessage() for r in caplog.records)

    # A restart with the same calendar: back in the queue, parked again, still not lost.
    drain(conn, ctx)
    assert counts(conn) == (1, 1, 0)

    # With 2027 in calendar.yaml (a made-up one: 1-5 January off) the case opens.
    (tmp_path / "calendar.yaml").write_text(TEST_2027, encoding="utf-8")
    for name in ("deadlines.yaml", "routing.yaml"):
        (tmp_path / name).write_bytes((zhongmen.config_dir / name).read_bytes())
    extended = dataclasses.replace(ctx, config=load_config(tmp_path))
    drain(conn, extended)
    assert counts(conn) == (2, 0, 0)
    accept_by = conn.execute(
        "SELECT c.accept_by FROM cases c JOIN case_events e ON e.case_id = c.id"
        " WHERE e.event_id = %s",
        (dispute,),
    ).fetchone()
    # 90 minutes on 31 December, then 150 on Wednesday 6 January from 08:30.
    assert accept_by == (datetime(2027, 1, 6, 11, 0, tzinfo=SH),)
