"""Joint cases on a controlled clock: three departments, each with its task, one case.

A sanitation case (severity 3: 1,440 working minutes to resolve) is made joint by
the duty commander with the police, urban management and emergency departments.
It closes only when all three tasks are done, or when the commander closes it with
a reason; department staff work their own department's task and no other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
import pytest

from dispatch.actions import act
from dispatch.clock import ManualClock
from dispatch.consult import Attachment, messages, post
from dispatch.errors import ActionInputError, OpenTasks, PermissionDenied, TransitionError
from dispatch.joint import task_action, tasks_of
from dispatch.permissions import Actor
from dispatch.store import Context, fetch_case
from dispatch.worker import drain
from gridwatch.domain import Role
from tests.dispatch.conftest import TZ, TownFixture, case_history, insert_event

pytestmark = pytest.mark.services

DEPARTMENTS = ["police", "urban", "emergency"]
COMMANDER = Actor("P-duty-commander", Role.DUTY_COMMANDER, name="值班长", everywhere=True)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 9, day, hour, minute, tzinfo=TZ)


def staff(dept: str) -> Actor:
    return Actor(f"P-{dept}-staff", Role.DEPARTMENT_STAFF, departments=frozenset({dept}))


def open_sanitation_case(conn: psycopg.Connection[Any], ctx: Context, town: TownFixture) -> int:
    lon, lat = town.point_in(town.unit(0))
    insert_event(conn, ts=ctx.clock.now(), category="sanitation", severity=3, lon=lon, lat=lat)
    drain(conn, ctx)
    row = conn.execute("SELECT max(id) FROM cases").fetchone()
    assert row is not None and row[0] is not None
    return int(row[0])


def make_joint(conn: psycopg.Connection[Any], ctx: Context, case_id: int) -> None:
    act(conn, ctx, case_id, "make_joint", COMMANDER, "三部门联合整治", departments=DEPARTMENTS)


def test_a_joint_case_closes_only_when_all_three_tasks_are_done(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    case_id = open_sanitation_case(conn, ctx, zhongmen)
    grid = zhongmen.town.hierarchy.chain(zhongmen.unit(0))[1]
    assert grid.leader is not None
    grid_leader = Actor(grid.leader.person_id, Role.GRID_LEADER, areas=frozenset({grid.id}))

    # 10:00 a grid leader may not make it joint; the commander may.
    clock.set(local(16, 10))
    with pytest.raises(PermissionDenied, match="'grid_leader' may not 'make_joint'"):
        act(conn, ctx, case_id, "make_joint", grid_leader, departments=DEPARTMENTS)
    with pytest.raises(ActionInputError, match="departments"):
        act(conn, ctx, case_id, "make_joint", COMMANDER, departments=["police"])
    assert tasks_of(conn, case_id) == []
    make_joint(conn, ctx, case_id)
    case = fetch_case(conn, case_id)
    assert case is not None
    # No roster in this config: the case goes to the commander who made it joint.
    assert (case.status, case.assignee, case.next_escalation_at) == (
        "in_progress",
        COMMANDER.person,
        None,
    )
    tasks = tasks_of(conn, case_id)
    contacts = {d.id: d.contact for d in zhongmen.town.departments.values()}
    # 1,440 working minutes from Tuesday 10:00 (7 h a day): Tuesday 10:00-12:00 and
    # 14:00-17:30, Wednesday, Thursday, Friday 08:30-12:00 and 14:00-15:00.
    assert [(t.department_id, t.assignee, t.status, t.due_at) for t in tasks] == [
        (d, contacts[d], "open", local(19, 15)) for d in sorted(DEPARTMENTS)
    ]
    assert case.resolve_by == local(19, 15)
    with pytest.raises(ActionInputError, match="not yet joint"):
        make_joint(conn, ctx, case_id)
    # Each task's contact and the commander are told.
    told = conn.execute(
        "SELECT recipient, kind FROM notifications WHERE case_id = %s AND kind LIKE 'joint%%'"
        " ORDER BY recipient",
        (case_id,),
    ).fetchall()
    assert sorted(told) == sorted(
        [(contacts[d], "joint_task") for d in DEPARTMENTS] + [(COMMANDER.person, "joint_case")]
    )

    # The police accept and finish their task; they may not touch urban management's.
    clock.set(local(16, 11))
    police = staff("police")
    assert task_action(conn, ctx, case_id, "police", "accept", police).status == "accepted"
    with pytest.raises(PermissionDenied, match="urban's staff"):
        task_action(conn, ctx, case_id, "urban", "accept", police)
    with pytest.raises(TransitionError, match="'accept' is not allowed from task status"):
        task_action(conn, ctx, case_id, "police", "accept", police)
    clock.set(local(16, 14))
    task_action(conn, ctx, case_id, "police", "done", police, "已疏导")
    task_action(conn, ctx, case_id, "urban", "accept", staff("urban"))
    task_action(conn, ctx, case_id, "urban", "done", staff("urban"))

    # Two of three done: a close without a reason names the open task.
    clock.set(local(16, 15))
    with pytest.raises(OpenTasks) as refused:
        act(conn, ctx, case_id, "close", COMMANDER)
    assert refused.value.open_tasks == ["emergency"]
    after = fetch_case(conn, case_id)
    assert after is not None and after.status == "in_progress"

    # The last task done closes the case.
    clock.set(local(16, 16))
    task_action(conn, ctx, case_id, "emergency", "accept", staff("emergency"))
    task_action(conn, ctx, case_id, "emergency", "done", staff("emergency"))
    closed = fetch_case(conn, case_id)
    assert closed is not None
    assert (closed.status, closed.closed_at) == ("closed", local(16, 16))

    trail = case_history(conn, case_id, "actor, action, from_status, to_status, data")
    joint_steps = [(a, act_, d.get("department")) for a, act_, _, _, d in trail[2:]]
    assert joint_steps[:4] == [(COMMANDER.person, "make_joint", None)] + [
        (COMMANDER.person, "task_opened", d) for d in DEPARTMENTS
    ]
    assert [s for s in joint_steps if s[1] in ("task_accept", "task_done")] == [
        (police.person, "task_accept", "police"),
        (police.person, "task_done", "police"),
        ("P-urban-staff", "task_accept", "urban"),
        ("P-urban-staff", "task_done", "urban"),
        ("P-emergency-staff", "task_accept", "emergency"),
        ("P-emergency-staff", "task_done", "emergency"),
    ]
    assert trail[-1][1:4] == ("close", "in_progress", "closed")


def test_the_commander_closes_a_joint_case_with_open_tasks_given_a_reason(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    case_id = open_sanitation_case(conn, ctx, zhongmen)
    make_joint(conn, ctx, case_id)
    task_action(conn, ctx, case_id, "police", "accept", staff("police"))
    task_action(conn, ctx, case_id, "police", "done", staff("police"))
    town_leader = Actor("P-town", Role.TOWN_LEADER, everywhere=True)
    with pytest.raises(PermissionDenied, match="duty commander"):
        act(conn, ctx, case_id, "close", town_leader, "不再需要")
    with pytest.raises(OpenTasks, match=r"\['emergency', 'urban'\]"):
        act(conn, ctx, case_id, "close", COMMANDER)

    clock.set(local(16, 12))
    case = act(conn, ctx, case_id, "close", COMMANDER, "现场已由市级部门接管")
    assert (case.status, case.closed_at) == ("closed", local(16, 12))
    last = case_history(conn, case_id, "actor, action, note, data")[-1]
    assert last == (
        COMMANDER.person,
        "close",
        "现场已由市级部门接管",
        {"open_tasks": ["emergency", "urban"]},
    )
    # A closed case's tasks no longer change.
    with pytest.raises(TransitionError, match="no longer change"):
        task_action(conn, ctx, case_id, "urban", "accept", staff("urban"))


def test_the_consultation_takes_part_and_only_grows(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture
) -> None:
    case_id = open_sanitation_case(conn, ctx, zhongmen)
    with pytest.raises(TransitionError, match="not a joint case"):
        post(conn, ctx, case_id, COMMANDER, "message", "开会")
    make_joint(conn, ctx, case_id)
    plan = Attachment("ef" * 32, "现场示意图.png")
    post(conn, ctx, case_id, staff("urban"), "message", "需要封路", [plan])
    post(conn, ctx, case_id, COMMANDER, "decision", "今晚 20:00 封路清运")
    with pytest.raises(PermissionDenied, match="'decide'"):
        post(conn, ctx, case_id, staff("police"), "decision", "不封路")
    with pytest.raises(PermissionDenied, match="'consult'"):
        post(conn, ctx, case_id, staff("ops"), "message", "我们也来")
    thread = messages(conn, case_id)
    assert [(m.author, m.kind, m.body, m.attachments) for m in thread] == [
        ("P-urban-staff", "message", "需要封路", [{"sha256": plan.sha256, "name": plan.name}]),
        (COMMANDER.person, "decision", "今晚 20:00 封路清运", []),
    ]
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("UPDATE case_messages SET body = 'x' WHERE case_id = %s", (case_id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("DELETE FROM case_messages WHERE case_id = %s", (case_id,))
