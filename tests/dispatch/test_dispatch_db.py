"""Events in the database become the right cases: routing, vacancies, merging, phases."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from dispatch.clock import ManualClock
from dispatch.store import Context
from dispatch.worker import drain
from tests.dispatch.conftest import TownFixture, insert_event

pytestmark = pytest.mark.services


def one(conn: psycopg.Connection[Any], sql: str, *args: Any) -> tuple[Any, ...]:
    row: tuple[Any, ...] | None = conn.execute(sql, args).fetchone()
    assert row is not None, sql
    return tuple(row)


def cases(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, unit_id, assignee, department_id, status, recurrence FROM cases ORDER BY id"
    ).fetchall()


def test_event_at_a_point_opens_a_case_for_that_units_leader_and_department(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    town = zhongmen.town
    unit = zhongmen.unit(1)
    lon, lat = zhongmen.point_in(unit)
    # The camera is bound to another unit: the event's map point wins.
    insert_event(conn, ts=clock.now(), lon=lon, lat=lat, unit_id=zhongmen.unit(2), severity=1)
    assert drain(conn, ctx).events == 1
    [(case_id, unit_id, assignee, dept, status, rec)] = cases(conn)
    leader = town.hierarchy.areas[unit].leader
    assert leader is not None
    assert (unit_id, assignee, dept, status, rec) == (
        unit,
        leader.person_id,
        "emergency",
        "assigned",
        1,
    )
    accept_by, resolve_by, grid = one(
        conn, "SELECT accept_by, resolve_by, grid_id FROM cases WHERE id = %s", case_id
    )
    # fire_smoke, severity 1: 5 minutes to accept, 60 to resolve (config/deadlines.yaml).
    assert accept_by == clock.now() + timedelta(minutes=5)
    assert resolve_by == clock.now() + timedelta(minutes=60)
    assert grid == town.hierarchy.areas[unit].parent
    notices = conn.execute("SELECT recipient, kind FROM notifications ORDER BY id").fetchall()
    # The unit leader to act, and the owning department's contact (routing.yaml tell:).
    contact = town.departments["emergency"].contact
    assert notices == [(leader.person_id, "assigned"), (contact, "department_opened")]
    actions = [r[0] for r in conn.execute("SELECT action FROM case_history ORDER BY id")]
    assert actions == ["created", "assigned"]
    assert conn.execute("SELECT count(*) FROM dispatch_queue").fetchone() == (0,)


def test_event_without_a_point_goes_to_the_cameras_unit(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    unit = zhongmen.unit(3)
    insert_event(conn, ts=clock.now(), category="illegal_parking", severity=3, unit_id=unit)
    drain(conn, ctx)
    [(_, unit_id, assignee, dept, _, _)] = cases(conn)
    leader = zhongmen.town.hierarchy.areas[unit].leader
    assert leader is not None
    assert (unit_id, assignee, dept) == (unit, leader.person_id, "urban")


def test_vacant_unit_leader_sends_the_case_to_the_grid_leader(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    vacant = zhongmen.synth.vacant_units[0]
    hier = zhongmen.town.hierarchy
    assert hier.areas[vacant].leader is None
    grid = hier.chain(vacant)[1]
    assert grid.leader is not None
    lon, lat = zhongmen.point_in(vacant)
    insert_event(conn, ts=clock.now(), lon=lon, lat=lat, category="intrusion", severity=2)
    drain(conn, ctx)
    [(case_id, unit_id, assignee, dept, status, _)] = cases(conn)
    assert (unit_id, assignee, dept, status) == (
        vacant,
        grid.leader.person_id,
        "police",
        "assigned",
    )
    area, note = one(conn, "SELECT assignee_area, route_note FROM cases WHERE id = %s", case_id)
    assert area == grid.id
    assert "vacant" in note and vacant in note


def test_repeated_events_merge_into_one_case_with_a_recurrence_count(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    lon, lat = zhongmen.point_in(zhongmen.unit(4))
    t0 = clock.now()
    ids = [
        insert_event(conn, ts=t0 + timedelta(minutes=i * 10), lon=lon + i * 1e-4, lat=lat, seq=i)
        for i in range(4)  # fire_smoke merges within 300 m and 60 minutes
    ]
    drain(conn, ctx)
    [(case_id, *_, rec)] = cases(conn)
    assert rec == 4
    held = {
        r[0]
        for r in conn.execute("SELECT event_id FROM case_events WHERE case_id = %s", (case_id,))
    }
    assert held == set(ids)
    # Two hours later the window has closed: a new case.
    insert_event(conn, ts=t0 + timedelta(hours=2), lon=lon, lat=lat, seq=9)
    # Same time, but another category: its own case.
    insert_event(conn, ts=t0, lon=lon, lat=lat, category="flood", seq=10)
    drain(conn, ctx)
    assert [c[5] for c in cases(conn)] == [4, 1, 1]


def test_update_and_end_attach_to_the_case_holding_the_event(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    lon, lat = zhongmen.point_in(zhongmen.unit(5))
    eid = insert_event(conn, ts=clock.now(), lon=lon, lat=lat, category="loitering")
    drain(conn, ctx)
    for n, phase in enumerate(("update", "end"), start=1):
        insert_event(
            conn,
            ts=clock.now() + timedelta(seconds=30 * n),
            lon=lon,
            lat=lat,
            category="loitering",
            phase=phase,
            event_id=eid,
            seq=n + 1,
        )
    drain(conn, ctx)
    [(case_id, *_, rec)] = cases(conn)
    assert rec == 1
    phases = [
        r[0]
        for r in conn.execute(
            "SELECT phase FROM case_events WHERE case_id = %s ORDER BY ts", (case_id,)
        )
    ]
    assert phases == ["start", "update", "end"]


def test_the_case_history_names_each_events_snapshot_hashes(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    lon, lat = zhongmen.point_in(zhongmen.unit(6))
    frame, crop, later = "a" * 64, "b" * 64, "c" * 64
    loitering = functools.partial(insert_event, conn, lon=lon, lat=lat, category="loitering")
    t0 = clock.now()
    eid = loitering(ts=t0, snapshot=frame, crop=crop)
    drain(conn, ctx)
    # Another event nearby merges; the first one's end carries no snapshot.
    loitering(ts=t0 + timedelta(seconds=20), snapshot=later, seq=2)
    loitering(ts=t0 + timedelta(seconds=40), phase="end", event_id=eid, seq=3)
    drain(conn, ctx)
    [(case_id, *_)] = cases(conn)
    rows = conn.execute(
        "SELECT action, data -> 'snapshots' FROM case_history"
        " WHERE case_id = %s AND data ? 'snapshots' ORDER BY id",
        (case_id,),
    ).fetchall()
    assert rows == [("created", [frame, crop]), ("merged", [later]), ("event_end", [])]


def test_consoles_hear_each_new_or_changed_case_on_the_live_channel(
    db: str,
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
) -> None:
    import json

    unit = zhongmen.unit(40)
    lon, lat = zhongmen.point_in(unit)
    with psycopg.connect(db, autocommit=True) as listener:
        listener.execute("LISTEN gridwatch_live")
        insert_event(conn, ts=clock.now(), lon=lon, lat=lat, category="flood", severity=1)
        insert_event(
            conn,
            ts=clock.now() + timedelta(minutes=1),
            lon=lon,
            lat=lat,
            category="flood",
            severity=1,
            seq=2,
        )
        drain(conn, ctx, batch=1)
        msgs = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=4)]
    cases_msgs = [m for m in msgs if m["type"] == "case"]
    leader = zhongmen.town.hierarchy.areas[unit].leader
    assert leader is not None
    assert [m["recurrence"] for m in cases_msgs] == [1, 2]
    first = cases_msgs[0]
    assert set(first) == {
        "type",
        "id",
        "category",
        "status",
        "unit_id",
        "assignee",
        "assignee_name",
        "deadline",
        "escalation_level",
        "lon",
        "lat",
        "recurrence",
        "departments",
    }
    assert first["departments"] == []  # not a joint case
    assert (first["unit_id"], first["assignee"], first["status"], first["category"]) == (
        unit,
        leader.person_id,
        "assigned",
        "flood",
    )
    assert (first["lon"], first["lat"], first["escalation_level"]) == (lon, lat, 0)
    # flood, severity 1: accept within 10 minutes; the message carries that deadline.
    assert datetime.fromisoformat(first["deadline"]) == clock.now() + timedelta(minutes=10)
