"""Time-driven work: escalate overdue cases and send due reminders.

Rows are taken with ``FOR UPDATE SKIP LOCKED``, so any number of dispatchers
can run this together and each case rises once per deadline passed.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from dispatch import deadlines
from dispatch.escalation import TOP_LEVEL, CaseTiming, Escalation, plan
from dispatch.lifecycle import AWAITING_ACCEPT, AWAITING_RESOLVE, OPEN_STATUSES
from dispatch.notify import Notice, render
from dispatch.routing import LEVELS, AreaView
from dispatch.store import Context, add_participant, history, push_live

_OPEN = [s.value for s in OPEN_STATUSES]


def _chain(ctx: Context, case: dict[str, Any]) -> list[AreaView]:
    area = case["unit_id"] or case["grid_id"] or case["village_id"] or case["town_id"]
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


def escalate_due(conn: psycopg.Connection[Any], ctx: Context, limit: int = 100) -> int:
    """Raise every case whose escalation time has passed by one level; return how many."""
    now = ctx.clock.now()
    done = 0
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM cases WHERE next_escalation_at <= %s AND status = ANY(%s)"
            " AND escalation_level < %s ORDER BY next_escalation_at LIMIT %s"
            " FOR UPDATE SKIP LOCKED",
            (now, _OPEN, TOP_LEVEL, limit),
        ).fetchall()
        for case in rows:
            chain = _chain(ctx, case)
            timing = CaseTiming(
                case["id"],
                case["status"],
                case["escalation_level"],
                _assignee_level(chain, case["assignee_area"]),
                case["next_escalation_at"],
            )
            dept = None
            if case["department_id"] is not None:
                d = ctx.town.department_for(case["category"])
                if d is not None:
                    person = ctx.town.people.get(d.contact)
                    dept = (d.contact, person.name if person else d.contact)
            window = deadlines.escalation_window(
                ctx.config.deadlines, case["category"], case["severity"]
            )
            step = plan(timing, now, chain, dept, window)
            if step is not None:
                _apply(conn, ctx, case, step)
                done += 1
    return done


def _apply(
    conn: psycopg.Connection[Any], ctx: Context, case: dict[str, Any], e: Escalation
) -> None:
    now = ctx.clock.now()
    cid, cat = case["id"], case["category"]
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
    history(
        conn,
        cid,
        now,
        "system",
        "escalated",
        case["status"],
        case["status"],
        note=f"{e.missed} deadline missed; {LEVELS[e.from_level]} -> {LEVELS[e.to_level]}",
        data={
            "from_level": e.from_level,
            "to_level": e.to_level,
            "missed": e.missed,
            "leader": e.leader.person if e.leader else None,
            "pulled_in": [{"role": p.role, "person": p.person} for p in e.pulled_in],
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
        title, body = render("escalated", cid, cat, level=e.to_level)
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
    sent = 0
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
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
            case = cur.execute(
                "SELECT id, status, category, assignee, assignee_name, accept_by, resolve_by"
                " FROM cases WHERE id = %s",
                (rem["case_id"],),
            ).fetchone()
            if case is None or case["assignee"] is None:
                continue
            waiting = AWAITING_ACCEPT if rem["kind"] == "accept" else AWAITING_RESOLVE
            current = case["accept_by"] if rem["kind"] == "accept" else case["resolve_by"]
            if case["status"] not in {s.value for s in waiting} or current != rem["deadline"]:
                continue
            local = rem["deadline"].astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
            title, body = render(
                f"reminder_{rem['kind']}", case["id"], case["category"], deadline=local
            )
            key = f"case:{case['id']}:reminder:{rem['kind']}:{rem['due_at'].isoformat()}"
            if ctx.notifier.send(
                conn,
                Notice(
                    case["assignee"],
                    case["assignee_name"],
                    f"reminder_{rem['kind']}",
                    case["id"],
                    key,
                    title,
                    body,
                    {"deadline": rem["deadline"].isoformat()},
                ),
                now,
            ):
                sent += 1
    return sent
