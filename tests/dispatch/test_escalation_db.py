"""Overdue cases rise level by level, pulling in the liaison household and the department."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from dispatch.actions import act
from dispatch.clock import ManualClock
from dispatch.store import Context
from dispatch.worker import drain
from tests.dispatch.conftest import TownFixture, insert_event, open_fire_case

pytestmark = pytest.mark.services


def level_and_leader(conn: psycopg.Connection[Any], case_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT escalation_level, escalated_to FROM cases WHERE id = %s", (case_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_overdue_case_escalates_level_by_level_and_pulls_people_in(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    dept = zhongmen.town.department_for("fire_smoke")
    assert dept is not None
    fire = open_fire_case(conn, ctx, zhongmen, clock, zhongmen.unit(7))
    case_id, leaders, liaison = fire.case_id, fire.leaders, fire.liaison

    clock.advance(timedelta(minutes=4))  # accept_by is 5 minutes after opening
    drain(conn, ctx)
    assert level_and_leader(conn, case_id) == (0, None)

    clock.advance(timedelta(minutes=2))
    drain(conn, ctx)
    assert level_and_leader(conn, case_id) == (1, leaders[1])
    people = set(
        conn.execute(
            "SELECT role, person FROM case_participants WHERE case_id = %s", (case_id,)
        ).fetchall()
    )
    assert ("liaison", liaison.person_id) in people
    assert ("department", dept.contact) in people
    assert ("leader", leaders[1]) in people
    notices = set(conn.execute("SELECT kind, recipient FROM notifications").fetchall())
    assert {
        ("escalated", leaders[1]),
        ("pulled_in", liaison.person_id),
        ("pulled_in", dept.contact),
    } <= notices

    # Each level gets escalate_every_minutes (60) before the next rise.
    # After 10 more hours it stays at the town level: there is none above.
    for minutes, level in ((59, 1), (2, 2), (61, 3), (600, 3)):
        clock.advance(timedelta(minutes=minutes))
        drain(conn, ctx)
        assert level_and_leader(conn, case_id) == (level, leaders[level]), f"+{minutes} min"
    rises = conn.execute(
        "SELECT data->>'to_level' FROM case_history WHERE case_id = %s AND action = 'escalated'"
        " ORDER BY id",
        (case_id,),
    ).fetchall()
    assert [r[0] for r in rises] == ["1", "2", "3"]
    # A notice goes out once however often the timers run.
    assert conn.execute(
        "SELECT count(*) FROM notifications WHERE kind = 'escalated'"
    ).fetchone() == (3,)


def test_accepted_case_escalates_only_when_its_resolve_deadline_passes(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    lon, lat = zhongmen.point_in(zhongmen.unit(8))
    insert_event(conn, ts=clock.now(), lon=lon, lat=lat, category="fire_smoke", severity=1)
    drain(conn, ctx)
    (case_id, assignee) = conn.execute("SELECT id, assignee FROM cases").fetchone() or (0, "")
    clock.advance(timedelta(minutes=2))
    act(conn, ctx, case_id, "accept", assignee)
    clock.advance(timedelta(minutes=30))  # past accept_by, before resolve_by (60 min)
    drain(conn, ctx)
    assert level_and_leader(conn, case_id)[0] == 0
    clock.advance(timedelta(minutes=29))
    drain(conn, ctx)
    assert level_and_leader(conn, case_id)[0] == 1
    note = conn.execute("SELECT note FROM case_history WHERE action = 'escalated'").fetchone()
    assert note is not None and note[0].startswith("resolve deadline missed")


def test_reminder_goes_out_before_the_accept_deadline_unless_accepted(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    # intrusion, severity 2: 30 minutes to accept; reminders 30 and 5 minutes before.
    for n in (9, 10):
        lon, lat = zhongmen.point_in(zhongmen.unit(n))
        insert_event(
            conn,
            ts=clock.now(),
            lon=lon,
            lat=lat,
            category="intrusion",
            severity=2,
            device_id=f"cam-{n}",
        )
    drain(conn, ctx)
    [(first, a1), (second, _)] = conn.execute(
        "SELECT id, assignee FROM cases ORDER BY id"
    ).fetchall()
    act(conn, ctx, first, "accept", a1)
    clock.advance(timedelta(minutes=24))
    drain(conn, ctx)
    assert conn.execute(
        "SELECT count(*) FROM notifications WHERE kind LIKE 'reminder%'"
    ).fetchone() == (0,)
    clock.advance(timedelta(minutes=2))
    drain(conn, ctx)
    rows = conn.execute(
        "SELECT case_id, kind, title FROM notifications WHERE kind LIKE 'reminder%'"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(second, "reminder_accept")]
    assert "受理" in rows[0][2]
