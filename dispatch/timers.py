"""Time-driven work: escalate overdue cases and send due reminders.

Rows are taken with ``FOR UPDATE SKIP LOCKED``, so any number of dispatchers
can run this together and each case rises once per deadline passed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from dispatch import deadlines
from dispatch.duty import escalation_commander
from dispatch.escalation import TOP_LEVEL, CaseTiming, Escalation, plan, rise
from dispatch.lifecycle import AWAITING_ACCEPT, AWAITING_RESOLVE, OPEN_STATUSES
from dispatch.notify import Notice, render
from dispatch.routing import AreaView
from dispatch.rows import CaseRow, column_list
from dispatch.store import Context, add_participant, fetch_case, history, push_live
from gridwatch.domain import LEVELS

log = logging.getLogger(__name__)

_OPEN = [s.value for s in OPEN_STATUSES]

_DUE = sql.SQL(
    "SELECT {} FROM cases WHERE next_escalation_at <= %s AND status = ANY(%s)"
    " AND escalation_level < %s ORDER BY next_escalation_at LIMIT %s"
    " FOR UPDATE SKIP LOCKED"
).format(column_list(CaseRow))


@dataclass(frozen=True, slots=True)
class _Reminder:
    case_id: int
    kind: str  # 'accept' or 'resolve'
    due_at: datetime
    deadline: datetime


def _chain(ctx: Context, case: CaseRow) -> list[AreaView]:
    area = case.unit_id or case.grid_id or case.village_id or case.town_id
    if area is None:
        return []
    try:
        return list(ctx.town.hierarchy.chain(area))
    except KeyError:
        return []


def _assignee_level(chain: list[AreaView], area_id: str | None) -> int | None:
    for area in chain:
        if area.id == area_id:
            return LEVELS.index(area.level) if area.level in LEVELS else None
    return None


def escalation_for(
    ctx: Context, case: CaseRow, now: datetime, *, by_hand: bool = False
) -> Escalation | None:
    """The rise ``case`` needs now: when overdue, or at once when a leader asks for it
    (``by_hand``). None when not due, or already at the town."""
    chain = _chain(ctx, case)
    timing = CaseTiming(
        case.id,
        case.status,
        case.escalation_level,
        _assignee_level(chain, case.assignee_area),
        case.next_escalation_at,
    )
    dept = None
    if case.department_id is not None:
        d = ctx.town.department_for(case.category)
        if d is not None:
            person = ctx.town.people.get(d.contact)
            dept = (d.contact, person.name if person else d.contact)
    window = deadlines.escalation_window(ctx.config.deadlines, case.category, case.severity)
    commander = _commander(ctx, now)
    if by_hand:
        return rise(timing, now, chain, dept, window, commander=commander)
    return plan(timing, now, chain, dept, window, commander)


def _commander(ctx: Context, now: datetime) -> tuple[str, str] | None:
    """(id, name) of the duty commander that escalations above village level reach now."""
    found = escalation_commander(ctx.config.duty, now, ctx.tz)
    if found is None:
        if ctx.config.duty is not None and ctx.config.duty.escalations is not None:
            log.warning(
                "roster %r has no one on duty at %s; escalations go to the town leader",
                ctx.config.duty.escalations,
                now.isoformat(),
            )
        return None
    person = ctx.town.people.get(found.person)
    return found.person, person.name if person else found.person


def escalate_due(conn: psycopg.Connection[Any], ctx: Context, limit: int = 100) -> int:
    """Raise every case whose escalation time has passed by one level; return how many."""
    now = ctx.clock.now()
    raised: list[str] = []
    with conn.transaction(), conn.cursor(row_factory=class_row(CaseRow)) as cur:
        rows = cur.execute(_DUE, (now, _OPEN, TOP_LEVEL, limit)).fetchall()
        for case in rows:
            step = escalation_for(ctx, case, now)
            if step is not None:
                apply_escalation(conn, ctx, case, step)
                raised.append(LEVELS[step.to_level])
    ctx.observer.escalated(raised)
    return len(raised)


def apply_escalation(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case: CaseRow,
    e: Escalation,
    *,
    actor: str = "system",
    action: str = "escalated",
    note: str | None = None,
) -> None:
    """Write one rise: the case's level and leader, history, participants, notices, live.

    The status stays; ``next_escalation_at`` moves to the next level's window.
    """
    now = ctx.clock.now()
    cid, cat = case.id, case.category
    conn.execute(
        "UPDATE cases SET escalation_level = %s, escalated_to = %s, escalated_to_name = %s,"
        " next_escalation_at = %s, updated_at = %s WHERE id = %s",
        (
            e.to_level,
            e.leader.person if e.leader else None,
            e.leader.name if e.leader else None,
            e.next_at,
            now,
            cid,
        ),
    )
    levels = f"{LEVELS[e.from_level]} -> {LEVELS[e.to_level]}"
    why = f"{e.missed} deadline missed" if e.missed else "escalated by hand"
    history(
        conn,
        cid,
        now,
        actor,
        action,
        case.status,
        case.status,
        note=f"{why}; {levels}" + (f"; {note}" if note else ""),
        data={
            "from_level": e.from_level,
            "to_level": e.to_level,
            "missed": e.missed,
            "leader": e.leader.person if e.leader else None,
            "pulled_in": [{"role": p.role, "person": p.person} for p in e.pulled_in],
            "next_escalation_at": e.next_at.isoformat() if e.next_at else None,
        },
    )
    if e.leader is not None:
        add_participant(
            conn,
            cid,
            e.leader.person,
            e.leader.name,
            "leader",
            e.leader.area_id,
            e.leader.level,
            now,
        )
        template = "escalated" if e.missed else "escalated_by_hand"
        title, body = render(template, cid, cat, level=e.to_level)
        ctx.notifier.send(
            conn,
            Notice(
                e.leader.person,
                e.leader.name,
                "escalated",
                cid,
                f"case:{cid}:escalated:{e.to_level}:{e.leader.person}",
                title,
                body,
                {"level": e.to_level},
            ),
            now,
        )
    for p in e.pulled_in:
        add_participant(conn, cid, p.person, p.name, p.role, p.area_id, p.level, now)
        title, body = render("pulled_in", cid, cat, level=e.to_level)
        ctx.notifier.send(
            conn,
            Notice(
                p.person,
                p.name,
                "pulled_in",
                cid,
                f"case:{cid}:pulled_in:{e.to_level}:{p.person}",
                title,
                body,
                {"role": p.role, "level": e.to_level},
            ),
            now,
        )
    push_live(conn, cid)


def send_reminders(conn: psycopg.Connection[Any], ctx: Context, limit: int = 500) -> int:
    """Send reminders that are due, for cases still waiting on that deadline."""
    now = ctx.clock.now()
    kinds: list[str] = []
    with conn.transaction(), conn.cursor(row_factory=class_row(_Reminder)) as cur:
        rows = cur.execute(
            """
            DELETE FROM case_reminders r
            WHERE (r.case_id, r.kind, r.due_at) IN (
                SELECT case_id, kind, due_at FROM case_reminders WHERE due_at <= %s
                ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING r.case_id, r.kind, r.due_at, r.deadline
            """,
            (now, limit),
        ).fetchall()
        for rem in rows:
            case = fetch_case(conn, rem.case_id)
            if case is None or case.assignee is None:
                continue
            waiting = AWAITING_ACCEPT if rem.kind == "accept" else AWAITING_RESOLVE
            current = case.accept_by if rem.kind == "accept" else case.resolve_by
            if case.status not in waiting or current != rem.deadline:
                continue
            local = rem.deadline.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
            title, body = render(f"reminder_{rem.kind}", case.id, case.category, deadline=local)
            key = f"case:{case.id}:reminder:{rem.kind}:{rem.due_at.isoformat()}"
            if ctx.notifier.send(
                conn,
                Notice(
                    case.assignee,
                    case.assignee_name,
                    f"reminder_{rem.kind}",
                    case.id,
                    key,
                    title,
                    body,
                    {"deadline": rem.deadline.isoformat()},
                ),
                now,
            ):
                kinds.append(rem.kind)
    ctx.observer.reminded(kinds)
    return len(kinds)
