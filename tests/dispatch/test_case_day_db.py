"""A scripted day on a controlled clock: a case from event to close, through rework.

Opened by a camera's sanitation event (severity 3: 240 working minutes to accept,
1,440 to resolve, counted in working time), accepted and resolved by its unit
leader, verified by the grid leader, followed up (回访) unsatisfied by the duty
commander, so returned for rework, resolved again, verified and closed by a
satisfied follow-up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
import pytest

from dispatch.actions import Photo, act
from dispatch.clock import ManualClock
from dispatch.errors import PermissionDenied
from dispatch.permissions import Actor
from dispatch.rows import CaseRow
from dispatch.store import Context, fetch_case
from dispatch.worker import drain
from gridwatch.domain import Role
from tests.dispatch.conftest import TZ, TownFixture, case_history, insert_event

pytestmark = pytest.mark.services

PHOTO = Photo("ab" * 32, "evidence/2025/09/16/clean-1.jpg")
REDONE = Photo("cd" * 32, "evidence/2025/09/17/clean-2.jpg")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 9, day, hour, minute, tzinfo=TZ)


def deadlines(case: CaseRow) -> tuple[datetime | None, datetime | None, datetime | None]:
    return (case.accept_by, case.resolve_by, case.next_escalation_at)


def reread(conn: psycopg.Connection[Any], case_id: int) -> CaseRow:
    case = fetch_case(conn, case_id)
    assert case is not None
    return case


def test_a_day_from_event_to_close_with_one_return_for_rework(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    hier = zhongmen.town.hierarchy
    unit = next(
        zhongmen.unit(n) for n in range(100) if hier.chain(zhongmen.unit(n))[1].leader is not None
    )
    unit_area, grid_area = hier.chain(unit)[0], hier.chain(unit)[1]
    assert unit_area.leader is not None and grid_area.leader is not None
    unit_leader = Actor(unit_area.leader.person_id, Role.UNIT_LEADER, areas=frozenset({unit}))
    grid_leader = Actor(
        grid_area.leader.person_id, Role.GRID_LEADER, areas=frozenset({grid_area.id})
    )
    commander = Actor("P-duty-commander", Role.DUTY_COMMANDER)

    # Tuesday 16 September 2025, 09:00: the camera reports rubbish piled up.
    assert clock.now() == local(16, 9)
    lon, lat = zhongmen.point_in(unit)
    insert_event(conn, ts=clock.now(), category="sanitation", severity=3, lon=lon, lat=lat)
    drain(conn, ctx)
    row = conn.execute("SELECT id FROM cases").fetchone()
    assert row is not None
    case_id = int(row[0])
    case = reread(conn, case_id)
    assert (case.status, case.assignee) == ("assigned", unit_leader.person)
    # 240 working minutes: 09:00-12:00 and 14:00-15:00. 1,440 working minutes (7 h a
    # day): the rest of Tuesday, Wednesday, Thursday, Friday 08:30-12:00.
    assert deadlines(case) == (local(16, 15), local(19, 12), local(16, 15))

    # 09:30 the unit leader accepts: the case now escalates at its resolve deadline.
    clock.set(local(16, 9, 30))
    case = act(conn, ctx, case_id, "accept", unit_leader)
    assert deadlines(case) == (local(16, 15), local(19, 12), local(19, 12))
    # Someone else's case: the grid leader may not accept it, the unit leader may not verify.
    with pytest.raises(PermissionDenied, match="'grid_leader' may not 'accept'"):
        act(conn, ctx, case_id, "accept", grid_leader)
    clock.set(local(16, 10))
    act(conn, ctx, case_id, "start", unit_leader)
    clock.set(local(16, 11))
    case = act(conn, ctx, case_id, "resolve", unit_leader, "已清运", photos=[PHOTO])
    assert (case.status, case.resolved_at, case.next_escalation_at) == (
        "resolved",
        local(16, 11),
        None,
    )
    with pytest.raises(PermissionDenied, match="'unit_leader' may not 'verify'"):
        act(conn, ctx, case_id, "verify", unit_leader)

    # 14:30 the grid leader checks the work; 15:30, past accept_by, nothing escalates.
    clock.set(local(16, 14, 30))
    case = act(conn, ctx, case_id, "verify", grid_leader, "现场已核查")
    assert case.status == "verified"
    clock.set(local(16, 15, 30))
    drain(conn, ctx)
    assert reread(conn, case_id).escalation_level == 0

    # 16:00 the follow-up call: the resident is not satisfied (2), so back for rework
    # with a fresh resolve deadline of 1,440 working minutes from now: Tuesday
    # 16:00-17:30, Wednesday to Friday, Monday 22nd 08:30-10:00.
    clock.set(local(16, 16))
    case = act(conn, ctx, case_id, "follow_up", commander, "角落仍有垃圾", rating=2)
    assert (case.status, case.returns, case.rating, case.satisfied) == ("in_progress", 1, 2, False)
    assert case.resolved_at is None
    assert deadlines(case) == (local(16, 15), local(22, 10), local(22, 10))

    # Wednesday: resolved again, verified, and a satisfied follow-up closes the case.
    clock.set(local(17, 9))
    case = act(conn, ctx, case_id, "resolve", unit_leader, "二次清运", photos=[REDONE])
    assert (case.status, case.next_escalation_at) == ("resolved", None)
    clock.set(local(17, 10))
    act(conn, ctx, case_id, "verify", grid_leader)
    clock.set(local(17, 11))
    case = act(conn, ctx, case_id, "follow_up", commander, rating=5)
    assert (case.status, case.closed_at, case.rating, case.satisfied) == (
        "closed",
        local(17, 11),
        5,
        True,
    )
    assert case.returns == 1

    trail = case_history(conn, case_id, "at, actor, action, from_status, to_status, data")
    steps = [(at.astimezone(TZ), actor, action, frm, to) for at, actor, action, frm, to, _ in trail]
    assert steps == [
        (local(16, 9), "dispatcher", "created", None, "new"),
        (local(16, 9), "dispatcher", "assigned", "new", "assigned"),
        (local(16, 9, 30), unit_leader.person, "accept", "assigned", "accepted"),
        (local(16, 10), unit_leader.person, "start", "accepted", "in_progress"),
        (local(16, 11), unit_leader.person, "resolve", "in_progress", "resolved"),
        (local(16, 14, 30), grid_leader.person, "verify", "resolved", "verified"),
        (local(16, 16), commander.person, "rate_unsatisfied", "verified", "in_progress"),
        (local(17, 9), unit_leader.person, "resolve", "in_progress", "resolved"),
        (local(17, 10), grid_leader.person, "verify", "resolved", "verified"),
        (local(17, 11), commander.person, "rate_satisfied", "verified", "closed"),
    ]
    data = [d for *_, d in trail]
    assert data[4]["photos"] == [{"sha256": PHOTO.sha256, "ref": PHOTO.ref}]
    assert data[7]["photos"] == [{"sha256": REDONE.sha256, "ref": REDONE.ref}]
    assert (data[6]["rating"], data[6]["satisfied"]) == (2, False)
    assert datetime.fromisoformat(data[6]["resolve_by"]) == local(22, 10)
    # The refused attempts left nothing behind, and history cannot be rewritten.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("UPDATE case_history SET actor = 'someone' WHERE case_id = %s", (case_id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("DELETE FROM case_history WHERE case_id = %s", (case_id,))
