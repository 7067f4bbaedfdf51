"""Case actions through the state machine: accept, resolve, rate (回访), reject, reopen ...

Each action locks the case row, checks the transition table, updates the case,
appends one history row and pushes the case live, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dispatch import deadlines
from dispatch.errors import CaseNotFound, TransitionError
from dispatch.lifecycle import Action, next_status
from dispatch.notify import Notice, render
from dispatch.rows import CaseRow
from dispatch.store import (
    Context,
    add_participant,
    fetch_case,
    history,
    lock_key,
    push_live,
    take_locks,
)

MEDIATION_OUTCOMES = ("mediated", "failed", "referred")


@dataclass(frozen=True, slots=True)
class Reassign:
    """Who a rejected or reopened case goes to next (the commander's re-routing)."""

    person: str
    name: str
    area_id: str
    level: int


def act(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case_id: int,
    action: Action | str,
    actor: str,
    note: str | None = None,
    *,
    rating: int | None = None,
    duplicate_of: int | None = None,
    mediation_outcome: str | None = None,
    assign_to: Reassign | None = None,
) -> CaseRow:
    """Apply one action; returns the case row after it. TransitionError when not allowed."""
    now = ctx.clock.now()
    with conn.transaction():
        head = conn.execute(
            "SELECT category, village_id, unit_id FROM cases WHERE id = %s", (case_id,)
        ).fetchone()
        if head is None:
            raise CaseNotFound(f"case {case_id} not found")
        # The dispatchers' lock for this case's (category, village): see store.lock_key.
        take_locks(conn, [lock_key(*head)])
        case = fetch_case(conn, case_id, lock=True)
        assert case is not None
        step = next_status(case.status, action, note)
        sets: dict[str, Any] = {"status": step.to_status.value, "updated_at": now}
        data: dict[str, Any] = {}
        match step.action:
            case Action.ACCEPT:
                sets["accepted_at"] = now
                sets["next_escalation_at"] = max(case.resolve_by or now, now)
            case Action.START:
                pass
            case Action.RESOLVE:
                if case.category == "dispute":
                    if mediation_outcome not in MEDIATION_OUTCOMES:
                        raise TransitionError(
                            f"a dispute case is resolved with mediation_outcome in "
                            f"{MEDIATION_OUTCOMES}, got {mediation_outcome!r}"
                        )
                    sets["mediation_outcome"] = mediation_outcome
                    data["mediation_outcome"] = mediation_outcome
                sets["resolved_at"] = now
                sets["next_escalation_at"] = None
            case Action.RATE_SATISFIED | Action.RATE_UNSATISFIED:
                if rating is None or not 1 <= rating <= 5:
                    raise TransitionError(f"follow-up needs a rating 1..5, got {rating!r}")
                if case.raised_by and actor != case.raised_by:
                    raise TransitionError(
                        f"case {case_id} is rated by whoever raised it ({case.raised_by!r}),"
                        f" not {actor!r}"
                    )
                sets["rating"], data["rating"] = rating, rating
                sets["satisfied"] = step.action is Action.RATE_SATISFIED
                if step.action is Action.RATE_UNSATISFIED:
                    # 退回重办: rework gets a fresh resolve deadline and counts as a return.
                    resolve_by = _fresh(ctx, case, now).resolve_by
                    sets.update(
                        returns=case.returns + 1,
                        resolved_at=None,
                        resolve_by=resolve_by,
                        next_escalation_at=resolve_by,
                    )
            case Action.CLOSE:
                sets["closed_at"] = now
            case Action.REJECT:
                sets["rejections"] = case.rejections + 1
                sets["next_escalation_at"] = None
            case Action.MARK_DUPLICATE:
                if duplicate_of is None or duplicate_of == case_id:
                    raise TransitionError(
                        f"duplicate_of must name another case, got {duplicate_of}"
                    )
                if fetch_case(conn, duplicate_of) is None:
                    raise CaseNotFound(f"case {duplicate_of} (duplicate_of) not found")
                sets["duplicate_of"], data["duplicate_of"] = duplicate_of, duplicate_of
                sets["next_escalation_at"] = None
            case Action.REOPEN:
                dl = _fresh(ctx, case, now)
                sets.update(
                    reopens=case.reopens + 1,
                    resolved_at=None,
                    closed_at=None,
                    accepted_at=None,
                    accept_by=dl.accept_by,
                    resolve_by=dl.resolve_by,
                    next_escalation_at=dl.accept_by,
                )
            case Action.ASSIGN:
                if assign_to is None:
                    raise TransitionError("assign needs assign_to (who the case goes to)")
                dl = _fresh(ctx, case, now)
                sets.update(
                    assignee=assign_to.person,
                    assignee_name=assign_to.name,
                    assignee_area=assign_to.area_id,
                    accept_by=dl.accept_by,
                    resolve_by=dl.resolve_by,
                    next_escalation_at=dl.accept_by,
                )
                data["assignee"] = assign_to.person
                add_participant(
                    conn,
                    case_id,
                    assign_to.person,
                    assign_to.name,
                    "leader",
                    assign_to.area_id,
                    assign_to.level,
                    now,
                )
                title, body = render("assigned", case_id, case.category)
                ctx.notifier.send(
                    conn,
                    Notice(
                        assign_to.person,
                        assign_to.name,
                        "assigned",
                        case_id,
                        f"case:{case_id}:assigned:{assign_to.person}:{now.isoformat()}",
                        title,
                        body,
                        {"accept_by": dl.accept_by.isoformat()},
                    ),
                    now,
                )
        cols = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in sets)
        conn.execute(
            sql.SQL("UPDATE cases SET {} WHERE id = %s").format(cols), [*sets.values(), case_id]
        )
        # New deadlines get their own reminders; stale ones are skipped when due.
        stages = [(k, sets[f"{k}_by"]) for k in ("accept", "resolve") if f"{k}_by" in sets]
        _schedule_reminders(conn, ctx, case_id, stages, now)
        history(
            conn,
            case_id,
            now,
            actor,
            step.action.value,
            step.from_status.value,
            step.to_status.value,
            note,
            data,
        )
        push_live(conn, case_id)
        after = fetch_case(conn, case_id)
        assert after is not None
        return after


def _schedule_reminders(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case_id: int,
    stages: list[tuple[str, datetime]],
    now: datetime,
) -> None:
    for kind, deadline in stages:
        for due in deadlines.reminder_times(now, deadline, ctx.config.deadlines):
            conn.execute(
                "INSERT INTO case_reminders (case_id, kind, due_at, deadline)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (case_id, kind, due, deadline),
            )


def _fresh(ctx: Context, case: CaseRow, now: datetime) -> deadlines.Deadlines:
    """Deadlines counted again from now: for rework, reopening and re-routing."""
    return deadlines.compute(ctx.config.deadlines, case.category, case.severity, now, ctx.tz)
