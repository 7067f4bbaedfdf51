"""Residents' reports, the follow-up loop (回访, 退回重办), rejection, duplicates, disputes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from dispatch.actions import Reassign, act
from dispatch.clock import ManualClock
from dispatch.errors import ActionInputError, CaseNotFound, PermissionDenied, TransitionError
from dispatch.permissions import Actor
from dispatch.reports import Report, intake_with
from dispatch.rows import CaseRow
from dispatch.store import Context, fetch_case
from dispatch.worker import drain
from gridwatch.domain import Category, Role
from tests.dispatch.conftest import TownFixture, case_history, open_fire_case

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
        Report(category=Category.FLOOD, description="x", raised_by="r")
    with pytest.raises(ValidationError, match="category"):
        Report(category="sanitaton", description="x", raised_by="r", unit_id=unit)  # type: ignore[arg-type]
    by_unit = intake_with(
        conn,
        ctx,
        Report(
            category=Category.FLOOD, description="积水", raised_by="r", unit_id=zhongmen.unit(12)
        ),
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
    trail = case_history(conn, case_id, "action, from_status, to_status, actor")
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


def test_a_leader_escalates_by_hand_one_level_like_the_timer_does(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    fire = open_fire_case(conn, ctx, zhongmen, clock, zhongmen.unit(7))
    case_id, leaders, liaison = fire.case_id, fire.leaders, fire.liaison
    holder = Actor(leaders[0], Role.UNIT_LEADER)
    clock.advance(timedelta(minutes=1))  # well before the 5-minute accept deadline
    case = act(conn, ctx, case_id, "escalate", holder, "火势较大，请求支援")
    assert (case.status, case.escalation_level, case.escalated_to) == ("assigned", 1, leaders[1])
    assert case.next_escalation_at == clock.now() + timedelta(minutes=60)
    people = set(
        conn.execute(
            "SELECT role, person FROM case_participants WHERE case_id = %s", (case_id,)
        ).fetchall()
    )
    assert {("leader", leaders[1]), ("liaison", liaison.person_id)} <= people
    told = conn.execute(
        "SELECT title FROM notifications WHERE case_id = %s AND kind = 'escalated'", (case_id,)
    ).fetchone()
    assert told is not None and "提级" in told[0]
    last = case_history(conn, case_id, "actor, action, note")[-1]
    assert last[:2] == (leaders[0], "escalate")
    assert "火势较大" in last[2]
    # The timer carries on from the level the leader raised it to.
    clock.advance(timedelta(minutes=61))
    drain(conn, ctx)
    assert reread(conn, case_id).escalation_level == 2
    commander = Actor("P-duty", Role.DUTY_COMMANDER)
    assert act(conn, ctx, case_id, "escalate", commander).escalation_level == 3
    with pytest.raises(TransitionError, match="already at the town level"):
        act(conn, ctx, case_id, "escalate", commander)
    with pytest.raises(PermissionDenied):
        act(conn, ctx, case_id, "escalate", Actor("P-other", Role.UNIT_LEADER))


def test_merging_a_duplicate_moves_its_recurrence_to_the_original(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    a = intake_with(conn, ctx, report(zhongmen, 17))
    assert intake_with(conn, ctx, report(zhongmen, 17, raised_by="P-2")) == a
    b = intake_with(conn, ctx, report(zhongmen, 18))
    commander = Actor("P-duty", Role.DUTY_COMMANDER)
    with pytest.raises(PermissionDenied, match="'grid_leader' may not 'mark_duplicate'"):
        act(conn, ctx, a, "merge", Actor("P-grid", Role.GRID_LEADER), duplicate_of=b)
    case = act(conn, ctx, a, "merge", commander, "同一堆垃圾", duplicate_of=b)
    assert (case.status, case.duplicate_of, case.next_escalation_at) == ("duplicate", b, None)
    original = reread(conn, b)
    assert original.recurrence == 3
    merged = case_history(conn, b, "actor, action, data->>'case_id'")[-1]
    assert merged == ("P-duty", "merged_case", str(a))
    c = intake_with(conn, ctx, report(zhongmen, 19))
    with pytest.raises(ActionInputError, match="duplicate_of"):
        act(conn, ctx, c, "merge", commander, duplicate_of=a)  # a is itself a duplicate
    with pytest.raises(CaseNotFound, match="duplicate_of"):
        act(conn, ctx, c, "merge", commander, duplicate_of=10_000)


def test_comments_return_for_rework_and_a_platform_following_up_its_own_reports(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    platform = Actor("key:city-platform", Role.PLATFORM)
    mine = intake_with(conn, ctx, report(zhongmen, 20, raised_by=platform.person))
    other = intake_with(conn, ctx, report(zhongmen, 21, category="other"))
    case = reread(conn, mine)
    assert case.assignee is not None
    leader = Actor(case.assignee, Role.UNIT_LEADER)
    act(conn, ctx, mine, "accept", leader)
    act(conn, ctx, mine, "resolve", leader, "已处理")
    # A comment changes nothing but the history.
    clock.advance(timedelta(minutes=5))
    after = act(conn, ctx, mine, "comment", platform, "市民补充：东侧还有")
    assert (after.status, after.resolve_by) == ("resolved", case.resolve_by)
    with pytest.raises(PermissionDenied, match="only cases they raised"):
        act(conn, ctx, other, "comment", platform, "x")
    # The grid leader sends it back: counted, with a fresh resolve deadline.
    clock.advance(timedelta(hours=1))
    grid = Actor("P-grid", Role.GRID_LEADER)
    returned = act(conn, ctx, mine, "return", grid, "照片与现场不符")
    assert (returned.status, returned.returns) == ("in_progress", 1)
    assert returned.resolve_by is not None and case.resolve_by is not None
    assert returned.resolve_by > case.resolve_by
    assert returned.next_escalation_at == returned.resolve_by
    act(conn, ctx, mine, "resolve", leader, "已补充清理")
    assert act(conn, ctx, mine, "follow_up", platform, rating=4).status == "verified"
    with pytest.raises(PermissionDenied):
        act(conn, ctx, other, "follow_up", platform, rating=4)
    actions = conn.execute(
        "SELECT actor, action FROM case_history WHERE case_id = %s AND action IN"
        " ('comment', 'return', 'rate_satisfied') ORDER BY id",
        (mine,),
    ).fetchall()
    assert actions == [
        (platform.person, "comment"),
        ("P-grid", "return"),
        (platform.person, "rate_satisfied"),
    ]


def reread(conn: psycopg.Connection[Any], case_id: int) -> CaseRow:
    case = fetch_case(conn, case_id)
    assert case is not None
    return case


def test_a_grid_leader_reassigns_only_within_their_grid(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture
) -> None:
    hier = zhongmen.town.hierarchy
    unit = zhongmen.unit(22)
    grid = hier.chain(unit)[1]
    inside = next(
        u
        for u in hier.unit_ids
        if u != unit and hier.chain(u)[1].id == grid.id and hier.areas[u].leader is not None
    )
    outside = next(
        u for u in hier.unit_ids if hier.chain(u)[1].id != grid.id and hier.areas[u].leader
    )
    case_id = intake_with(conn, ctx, report(zhongmen, 22, category="other"))
    leader = Actor("P-grid", Role.GRID_LEADER, areas=frozenset({grid.id}))
    with pytest.raises(PermissionDenied, match="inside their own area"):
        act(
            conn,
            ctx,
            case_id,
            "reassign",
            leader,
            assign_to=Reassign.leader_of(zhongmen.town, outside),
        )
    case = act(
        conn,
        ctx,
        case_id,
        "reassign",
        leader,
        "改派",
        assign_to=Reassign.leader_of(zhongmen.town, inside),
    )
    assert (case.status, case.assignee_area) == ("assigned", inside)
    town = Actor("P-town", Role.TOWN_LEADER, everywhere=True)
    case = act(
        conn, ctx, case_id, "reassign", town, assign_to=Reassign.leader_of(zhongmen.town, outside)
    )
    assert case.assignee_area == outside
    with pytest.raises(ActionInputError, match="assign_to"):
        Reassign.leader_of(zhongmen.town, "NO-SUCH-AREA")
