"""Case actions through the state machine: accept, resolve, verify, follow up (回访), return ...

:func:`act` is the one entry point. In one transaction it takes the dispatchers'
advisory lock of the case's (category, village), locks the case row, checks that
the actor's role may take the action (``dispatch.permissions``) and that the
state machine allows it (``dispatch.lifecycle``), updates the case, appends one
history row, schedules reminders for new deadlines and pushes the case live.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dispatch import deadlines, joint, permissions
from dispatch.errors import ActionInputError, CaseNotFound, TransitionError
from dispatch.lifecycle import RETURNS, Action, Status, Step, next_status, parse_action
from dispatch.notify import Notice, render
from dispatch.permissions import Actor
from dispatch.routing import TownView
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
from dispatch.tell import told_on_resolve
from dispatch.timers import apply_escalation, escalation_for
from gridwatch.domain import Level

MEDIATION_OUTCOMES = ("mediated", "failed", "referred")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Photo:
    """An uploaded evidence image, recorded in the history of the action it proves."""

    sha256: str  # lowercase hex of the image bytes
    ref: str  # where the upload is stored (evidence store key or URL)

    def __post_init__(self) -> None:
        if not _SHA256.match(self.sha256):
            raise ActionInputError("photo.sha256", self.sha256, "64 lowercase hex digits")
        if not 1 <= len(self.ref) <= 512:
            raise ActionInputError("photo.ref", self.ref, "1 to 512 characters")


@dataclass(frozen=True, slots=True)
class Reassign:
    """Who a case goes to next (the commander's or grid leader's re-routing)."""

    person: str
    name: str
    area_id: str
    level: int

    @classmethod
    def leader_of(cls, town: TownView, area_id: str) -> Reassign:
        """The leader of ``area_id``; ActionInputError when the area is unknown or vacant."""
        try:
            area = town.hierarchy.chain(area_id)[0]
        except (KeyError, IndexError) as exc:
            raise ActionInputError("assign_to", area_id, "an area of the town") from exc
        if area.leader is None:
            raise ActionInputError("assign_to", area_id, "an area whose leader post is filled")
        return cls(area.leader.person_id, area.leader.name, area.id, int(Level.of(area.level)))


def act(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case_id: int,
    action: Action | str,
    actor: Actor | str,
    note: str | None = None,
    *,
    rating: int | None = None,
    duplicate_of: int | None = None,
    mediation_outcome: str | None = None,
    assign_to: Reassign | None = None,
    photos: Sequence[Photo] = (),
    departments: Sequence[str] = (),
) -> CaseRow:
    """Apply one action for ``actor``; returns the case row after it.

    ``actor`` is an authenticated :class:`Actor`, whose role is checked, or a plain
    string for the system's own callers ('system', a test), which are not.
    Raises CaseNotFound, PermissionDenied, TransitionError (not from this status)
    or ActionInputError (a missing or wrong value, naming the field).
    ``make_joint`` (with ``departments``) and a joint case's ``close`` are
    ``dispatch.joint``'s; the close then raises OpenTasks while a task is open.
    """
    requested = parse_action(action)
    _require_inputs(requested, case_id, duplicate_of, assign_to)
    now = ctx.clock.now()
    who = actor.person if isinstance(actor, Actor) else actor
    with conn.transaction():
        ids = [case_id] if duplicate_of is None else sorted({case_id, duplicate_of})
        heads = {
            int(r[0]): r[1:]
            for r in conn.execute(
                "SELECT id, category, village_id, unit_id FROM cases WHERE id = ANY(%s)", (ids,)
            )
        }
        for wanted in ids:
            if wanted not in heads:
                field = "duplicate_of" if wanted != case_id else "case_id"
                raise CaseNotFound(f"case {wanted} ({field}) not found")
        # The dispatchers' lock for the cases' (category, village): see store.lock_key.
        take_locks(conn, [lock_key(*h) for h in heads.values()])
        locked = {i: fetch_case(conn, i, lock=True) for i in ids}  # row locks in id order
        case = locked[case_id]
        assert case is not None
        if isinstance(actor, Actor):
            _check_permission(ctx, actor, requested, case, assign_to)
        if requested is Action.MAKE_JOINT:
            joint.make_joint(conn, ctx, case, actor, departments, note, now)
            return _reread(conn, case_id)
        tasks = joint.tasks_of(conn, case_id) if requested is Action.CLOSE else []
        if tasks:
            joint.close_joint(conn, case, actor, note, tasks, now)
            push_live(conn, case_id)
            return _reread(conn, case_id)
        step = next_status(case.status, requested, note, rating=rating)
        if step.action is Action.ESCALATE:
            rise = escalation_for(ctx, case, now, by_hand=True)
            if rise is None:
                raise TransitionError(
                    f"case {case_id} is already at the town level; it cannot rise further",
                    status=case.status,
                    action=step.action.value,
                )
            apply_escalation(conn, ctx, case, rise, actor=who, action="escalate", note=note)
            return _reread(conn, case_id)
        after, data = decide(
            ctx,
            case,
            step,
            now,
            rating=rating,
            mediation_outcome=mediation_outcome,
            assign_to=assign_to,
            duplicate_of=duplicate_of,
        )
        if photos:
            data["photos"] = [{"sha256": p.sha256, "ref": p.ref} for p in photos]
        if step.action is Action.ASSIGN:
            assert assign_to is not None
            _tell_new_assignee(conn, ctx, after, assign_to, now)
        if step.action is Action.RESOLVE:
            _tell_raiser(conn, ctx, after, now)
        if step.action is Action.MARK_DUPLICATE:
            target = locked[after.duplicate_of or 0]
            assert target is not None
            _merge_into(conn, case, target, who, now)
        _update(conn, case, after)
        # New deadlines get their own reminders; stale ones are skipped when due.
        stages = [
            (kind, new)
            for kind, old, new in (
                ("accept", case.accept_by, after.accept_by),
                ("resolve", case.resolve_by, after.resolve_by),
            )
            if new is not None and new != old
        ]
        _schedule_reminders(conn, ctx, case_id, stages, now)
        history(
            conn,
            case_id,
            now,
            who,
            step.action.value,
            step.from_status.value,
            step.to_status.value,
            note,
            data,
        )
        push_live(conn, case_id)
        return _reread(conn, case_id)


def decide(
    ctx: Context,
    case: CaseRow,
    step: Step,
    now: datetime,
    *,
    rating: int | None = None,
    mediation_outcome: str | None = None,
    assign_to: Reassign | None = None,
    duplicate_of: int | None = None,
) -> tuple[CaseRow, dict[str, Any]]:
    """The case after ``step`` at ``now``, and the data its history row records.

    Pure: deadlines come from ``ctx.config`` and ``ctx.tz``. Deadline changes are
    recorded in the data too (ISO times), so a report can follow them.
    """
    after = replace(case, status=step.to_status.value, updated_at=now)
    data: dict[str, Any] = {}
    match step.action:
        case Action.ACCEPT:
            # From now on the case escalates when its resolve deadline passes.
            after = replace(
                after, accepted_at=now, next_escalation_at=max(case.resolve_by or now, now)
            )
        case Action.RESOLVE:
            if case.category == "dispute":
                if mediation_outcome not in MEDIATION_OUTCOMES:
                    raise ActionInputError(
                        "mediation_outcome",
                        mediation_outcome,
                        f"one of {MEDIATION_OUTCOMES} to resolve a dispute case",
                    )
                after = replace(after, mediation_outcome=mediation_outcome)
                data["mediation_outcome"] = mediation_outcome
            after = replace(after, resolved_at=now, next_escalation_at=None)
        case Action.RATE_SATISFIED | Action.RATE_UNSATISFIED:
            satisfied = step.action is Action.RATE_SATISFIED
            after = replace(after, rating=rating, satisfied=satisfied)
            data.update(rating=rating, satisfied=satisfied)
        case Action.REJECT:
            after = replace(after, rejections=case.rejections + 1, next_escalation_at=None)
        case Action.MARK_DUPLICATE:
            after = replace(after, duplicate_of=duplicate_of, next_escalation_at=None)
            data["duplicate_of"] = duplicate_of
        case Action.REOPEN:
            after = _start_over(ctx, after, now)
            after = replace(after, reopens=case.reopens + 1, resolved_at=None, closed_at=None)
        case Action.ASSIGN:
            if assign_to is None:
                raise ActionInputError("assign_to", None, "who the case goes to")
            after = _start_over(ctx, after, now)
            after = replace(
                after,
                assignee=assign_to.person,
                assignee_name=assign_to.name,
                assignee_area=assign_to.area_id,
            )
            data.update(assignee=assign_to.person, area=assign_to.area_id, level=assign_to.level)
        case _:
            pass
    if step.action in RETURNS:
        # 退回重办: rework gets a fresh resolve deadline and counts as a return.
        resolve_by = _fresh(ctx, case, now).resolve_by
        after = replace(
            after,
            returns=case.returns + 1,
            resolved_at=None,
            resolve_by=resolve_by,
            next_escalation_at=resolve_by,
        )
    if step.to_status is Status.CLOSED:
        after = replace(after, closed_at=now)
    for key in ("accept_by", "resolve_by", "next_escalation_at"):
        value = getattr(after, key)
        if value != getattr(case, key):
            data[key] = value.isoformat() if value is not None else None
    return after, data


def _require_inputs(
    action: Action, case_id: int, duplicate_of: int | None, assign_to: Reassign | None
) -> None:
    if action is Action.MARK_DUPLICATE and (duplicate_of is None or duplicate_of == case_id):
        raise ActionInputError("duplicate_of", duplicate_of, f"another case's id than {case_id}")
    if action is Action.ASSIGN and assign_to is None:
        raise ActionInputError("assign_to", None, "who the case goes to")


def _check_permission(
    ctx: Context, actor: Actor, action: Action, case: CaseRow, assign_to: Reassign | None
) -> None:
    target_in_area = actor.everywhere
    if assign_to is not None and not target_in_area:
        try:
            chain = ctx.town.hierarchy.chain(assign_to.area_id)
        except KeyError:
            chain = ()
        target_in_area = any(a.id in actor.areas for a in chain)
    relation = permissions.relation_of(
        actor, assignee=case.assignee, department_id=case.department_id, raised_by=case.raised_by
    )
    relation["target_in_area"] = target_in_area
    permissions.check(actor.role, action, **relation)


def _tell_new_assignee(
    conn: psycopg.Connection[Any], ctx: Context, case: CaseRow, to: Reassign, now: datetime
) -> None:
    add_participant(conn, case.id, to.person, to.name, "leader", to.area_id, to.level, now)
    title, body = render("assigned", case.id, case.category)
    ctx.notifier.send(
        conn,
        Notice(
            to.person,
            to.name,
            "assigned",
            case.id,
            f"case:{case.id}:assigned:{to.person}:{now.isoformat()}",
            title,
            body,
            {"accept_by": case.accept_by.isoformat() if case.accept_by else None},
        ),
        now,
    )


def _tell_raiser(conn: psycopg.Connection[Any], ctx: Context, case: CaseRow, now: datetime) -> None:
    """The person who raised the report hears that it is resolved (``dispatch.tell``)."""
    told = told_on_resolve(ctx.config.tell, raised_by=case.raised_by, people=ctx.town.people)
    if told is None:
        return
    title, body = render(told.kind, case.id, case.category)
    ctx.notifier.send(
        conn,
        Notice(
            told.person,
            told.name,
            told.kind,
            case.id,
            # Resolved again after a return for rework: a notice of its own.
            f"case:{case.id}:{told.kind}:{told.person}:{now.isoformat()}",
            title,
            body,
        ),
        now,
    )


def _merge_into(
    conn: psycopg.Connection[Any], case: CaseRow, target: CaseRow, who: str, now: datetime
) -> None:
    """The duplicate's recurrence moves to the case it duplicates, with a history row there."""
    if target.status == Status.DUPLICATE:
        raise ActionInputError(
            "duplicate_of",
            target.id,
            f"a case that is not itself a duplicate (case {target.id} duplicates"
            f" {target.duplicate_of})",
        )
    conn.execute(
        "UPDATE cases SET recurrence = recurrence + %s, updated_at = %s WHERE id = %s",
        (case.recurrence, now, target.id),
    )
    history(
        conn,
        target.id,
        now,
        who,
        "merged_case",
        target.status,
        target.status,
        f"case {case.id} merged in as a duplicate",
        {"case_id": case.id, "recurrence": case.recurrence},
    )
    push_live(conn, target.id)


def _update(conn: psycopg.Connection[Any], before: CaseRow, after: CaseRow) -> None:
    """Write the columns in which ``after`` differs from ``before``."""
    changed = {
        f.name: getattr(after, f.name)
        for f in fields(CaseRow)
        if getattr(after, f.name) != getattr(before, f.name)
    }
    if not changed:
        return
    cols = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changed)
    conn.execute(
        sql.SQL("UPDATE cases SET {} WHERE id = %s").format(cols), [*changed.values(), before.id]
    )


def _reread(conn: psycopg.Connection[Any], case_id: int) -> CaseRow:
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
    return deadlines.compute(
        ctx.config.deadlines, case.category, case.severity, now, ctx.tz, ctx.config.calendar
    )


def _start_over(ctx: Context, case: CaseRow, now: datetime) -> CaseRow:
    """``case`` waiting to be accepted again, on deadlines counted from now (reopened,
    re-routed); it escalates when the new accept deadline passes."""
    dl = _fresh(ctx, case, now)
    return replace(
        case,
        accepted_at=None,
        accept_by=dl.accept_by,
        resolve_by=dl.resolve_by,
        next_escalation_at=dl.accept_by,
    )
