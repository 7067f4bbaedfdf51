"""Residents' reports, the follow-up loop (回访, 退回重办), rejection, duplicates, disputes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from dispatch.actions import Reassign, act
from dispatch.clock import ManualClock
from dispatch.errors import ActionInputError, PermissionDenied, TransitionError
from dispatch.permissions import Actor
from dispatch.reports import Report, intake_with
from dispatch.store import Context
from dispatch.worker import drain
from gridwatch.domain import Role
from tests.dispatch.conftest import TownFixture

pytestmark = pytest.mark.services


def report(zhongmen: TownFixture, n: int, **kw: Any) -> Report:
    lon, lat = zhongmen.point_in(zhongmen.unit(n))
    fields: dict[str, Any] = dict(
        category="sanitation",
        description="垃圾堆放未清运",
        raised_by="resident-13800000000",
        lon=lon,
        lat=lat,
    )
    fields.update(kw)
    return Report(**fields)


def test_a_report_is_routed_like_an_event_and_nearby_reports_merge(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    unit = zhongmen.unit(11)
    first = intake_with(conn, ctx, report(zhongmen, 11))
    clock.advance(timedelta(minutes=5))
    second = intake_with(conn, ctx, report(zhongmen, 11, raised_by="P-someone"))
    assert first == second
    row = conn.execute(
        "SELECT source, unit_id, assignee, department_id, recurrence, raised_by FROM cases"
    ).fetchone()
    leader = zhongmen.town.hierarchy.areas[unit].leader
    assert leader is not None
    assert row == ("report", unit, leader.person_id, "urban", 2, "resident-13800000000")
    # A report names a place: a map point or a unit.
    with pytest.raises(ValidationError, match="needs a location"):
        Report(category="flood", description="x", raised_by="r")
    by_unit = intake_with(
        conn,
        ctx,
        Report(category="flood", description="积水", raised_by="r", unit_id=zhongmen.unit(12)),
    )
    assert by_unit != first


def test_follow_up_unsatisfied_returns_the_case_for_rework_and_counts_it(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    case_id = intake_with(conn, ctx, report(zhongmen, 13))
    leader = conn.execute("SELECT assignee FROM cases").fetchone()
    assert leader is not None
    who = leader[0]
    act(conn, ctx, case_id, "accept", who)
    act(conn, ctx, case_id, "start", who)
    act(conn, ctx, case_id, "resolve", who, "已清运")
    # The unit leader does not follow up on their own work.
    with pytest.raises(PermissionDenied, match="'unit_leader' may not 'rate_satisfied'"):
        act(conn, ctx, case_id, "rate_satisfied", Actor(who, Role.UNIT_LEADER), rating=5)
    with pytest.raises(ActionInputError, match="a reason"):
        act(conn, ctx, case_id, "rate_unsatisfied", "resident-13800000000", rating=2)
    clock.advance(timedelta(hours=1))
    case = act(conn, ctx, case_id, "rate_unsatisfied", "resident-13800000000", "还有残留", rating=2)
    assert (case.status, case.returns, case.satisfied) == ("in_progress", 1, False)
    assert case.resolve_by is not None and case.resolve_by > clock.now()
    act(conn, ctx, case_id, "resolve", who, "二次清运")
    case = act(conn, ctx, case_id, "rate_satisfied", "resident-13800000000", rating=5)
    assert (case.status, case.returns, case.rating) == ("verified", 1, 5)
    act(conn, ctx, case_id, "close", "system")
    trail = conn.execute(
        "SELECT action, from_status, to_status, actor FROM case_history WHERE case_id = %s"
        " ORDER BY id",
        (case_id,),
    ).fetchall()
    assert [t[0] for t in trail] == [
        "created",
        "assigned",
        "accept",
        "start",
        "resolve",
        "rate_unsatisfied",
        "resolve",
        "rate_satisfied",
        "close",
    ]
    assert trail[5][1:3] == ("resolved", "in_progress")
    with pytest.raises(TransitionError, match="not allowed from status 'closed'"):
        act(conn, ctx, case_id, "accept", who)


def test_rejected_case_is_rerouted_and_duplicates_point_at_their_original(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    a = intake_with(conn, ctx, report(zhongmen, 14, category="other"))
    b = intake_with(conn, ctx, report(zhongmen, 15, category="other"))
    with pytest.raises(ActionInputError, match="a reason"):
        act(conn, ctx, a, "reject", "x")
    assert act(conn, ctx, a, "reject", "x", "不属于本单元").status == "rejected"
    grid = zhongmen.town.hierarchy.chain(zhongmen.unit(14))[1]
    assert grid.leader is not None
    case = act(
        conn,
        ctx,
        a,
        "assign",
        "commander",
        "改派网格长",
        assign_to=Reassign(grid.leader.person_id, grid.leader.name, grid.id, 1),
    )
    assert (case.status, case.assignee, case.rejections) == (
        "assigned",
        grid.leader.person_id,
        1,
    )
    # The new assignee is told, and reminded before the new accept deadline (120 min).
    clock.advance(timedelta(minutes=100))
    drain(conn, ctx)
    got = conn.execute(
        "SELECT kind FROM notifications WHERE recipient = %s AND case_id = %s ORDER BY id",
        (grid.leader.person_id, a),
    ).fetchall()
    assert [g[0] for g in got] == ["assigned", "reminder_accept"]
    case = act(conn, ctx, b, "mark_duplicate", "commander", duplicate_of=a)
    assert (case.status, case.duplicate_of) == ("duplicate", a)


def test_a_dispute_is_resolved_only_with_a_mediation_outcome(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture
) -> None:
    case_id = intake_with(
        conn, ctx, report(zhongmen, 16, category="dispute", description="邻里噪音纠纷")
    )
    act(conn, ctx, case_id, "accept", "p")
    with pytest.raises(ActionInputError, match="mediation_outcome"):
        act(conn, ctx, case_id, "resolve", "p")
    case = act(conn, ctx, case_id, "resolve", "p", "调解成功", mediation_outcome="mediated")
    assert case.mediation_outcome == "mediated"
