"""Joint cases (联合处置): the commander hands one case to several departments.

Each department gets a task (``case_tasks``): its contact as assignee, a deadline
from the case's rule in ``deadlines.yaml`` (in working time where the rule says)
and a status (:class:`dispatch.lifecycle.TaskStatus`). The case goes to the
commander on duty (the escalation roster of ``duty.yaml``; without one, the
commander who made it joint). It closes when the last task is done, or when the
duty commander closes it with a reason; a close without one while a task is open
is refused naming the open tasks (:class:`dispatch.errors.OpenTasks`).

Every task change is a ``case_history`` row. Everything runs inside the caller's
transaction, with the case row locked as :func:`dispatch.actions.act` locks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from dispatch import deadlines
from dispatch.duty import escalation_commander
from dispatch.errors import (
    ActionInputError,
    CaseNotFound,
    OpenTasks,
    PermissionDenied,
    TransitionError,
)
from dispatch.lifecycle import (
    JOINT_CLOSABLE,
    Action,
    Status,
    TaskAction,
    TaskStatus,
    next_status,
    next_task_status,
)
from dispatch.notify import Notice, render
from dispatch.permissions import Actor
from dispatch.rows import CaseRow, column_list
from dispatch.store import Context, add_participant, fetch_case, history, push_live
from gridwatch.domain import Level, Role

#: A joint case needs at least this many departments; one is a plain case.
MIN_DEPARTMENTS = 2


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One ``case_tasks`` row: a department's part of a joint case."""

    case_id: int
    department_id: str
    assignee: str  # the department's contact (departments.yaml)
    assignee_name: str | None
    status: str  # a TaskStatus
    due_at: datetime  # from the case's rule in deadlines.yaml
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    done_at: datetime | None


_TASKS = sql.SQL("SELECT {} FROM case_tasks WHERE case_id = %s ORDER BY department_id").format(
    column_list(TaskRow)
)


def tasks_of(conn: psycopg.Connection[Any], case_id: int) -> list[TaskRow]:
    """The case's tasks by department id; none for a case that is not joint."""
    with conn.cursor(row_factory=class_row(TaskRow)) as cur:
        return cur.execute(_TASKS, (case_id,)).fetchall()


def open_tasks(tasks: Sequence[TaskRow]) -> list[str]:
    """The departments whose task is not done yet."""
    return [t.department_id for t in tasks if t.status != TaskStatus.DONE]


def may_work_task(actor: Actor, task: TaskRow) -> bool:
    """A task is worked by its department's staff, or by its assignee."""
    return task.department_id in actor.departments or task.assignee == actor.person


def takes_part(actor: Actor, case: CaseRow, tasks: Sequence[TaskRow]) -> bool:
    """Who may write in the consultation: the duty commander, the case's assignee, and
    the staff and assignees of its tasks."""
    return (
        actor.role is Role.DUTY_COMMANDER
        or case.assignee == actor.person
        or any(may_work_task(actor, t) for t in tasks)
    )


def _check_departments(ctx: Context, departments: Sequence[str]) -> list[str]:
    known = sorted(ctx.town.departments)
    chosen = list(dict.fromkeys(departments))
    if len(chosen) != len(departments):
        raise ActionInputError("departments", list(departments), "each department once")
    if len(chosen) < MIN_DEPARTMENTS:
        raise ActionInputError(
            "departments", chosen, f"at least {MIN_DEPARTMENTS} departments for a joint case"
        )
    unknown = [d for d in chosen if d not in ctx.town.departments]
    if unknown:
        raise ActionInputError("departments", unknown, f"department ids of {known}")
    return chosen


def _commander(ctx: Context, actor: Actor | str, now: datetime) -> tuple[str, str | None]:
    """The commander a joint case goes to: on duty now, else whoever made it joint."""
    on = escalation_commander(ctx.config.duty, now, ctx.tz)
    if on is not None:
        person = ctx.town.people.get(on.person)
        return on.person, person.name if person is not None else None
    if isinstance(actor, Actor):
        return actor.person, actor.name
    return actor, None


def make_joint(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case: CaseRow,
    actor: Actor | str,
    departments: Sequence[str],
    note: str | None,
    now: datetime,
) -> None:
    """Turn the locked ``case`` into a joint case with a task for each department."""
    step = next_status(case.status, Action.MAKE_JOINT, note)
    who = actor.person if isinstance(actor, Actor) else actor
    if tasks_of(conn, case.id):
        raise ActionInputError("departments", list(departments), "a case not yet joint")
    chosen = _check_departments(ctx, departments)
    due = deadlines.compute(
        ctx.config.deadlines, case.category, case.severity, now, ctx.tz, ctx.config.calendar
    ).resolve_by
    commander, commander_name = _commander(ctx, actor, now)
    add_participant(
        conn, case.id, commander, commander_name, "leader", case.town_id, int(Level.TOWN), now
    )
    conn.execute(
        "UPDATE cases SET status = %s, assignee = %s, assignee_name = %s, assignee_area = %s,"
        " accepted_at = coalesce(accepted_at, %s), resolve_by = %s, next_escalation_at = NULL,"
        " updated_at = %s WHERE id = %s",
        (step.to_status.value, commander, commander_name, case.town_id, now, due, now, case.id),
    )
    # The case's own step first, so its history reads in the order things happened.
    frm, to = step.from_status.value, step.to_status.value
    data = {"departments": chosen, "commander": commander, "resolve_by": due.isoformat()}
    history(conn, case.id, now, who, step.action.value, frm, to, note, data)
    for dept_id in chosen:
        contact = ctx.town.departments[dept_id].contact
        person = ctx.town.people.get(contact)
        name = person.name if person is not None else None
        conn.execute(
            "INSERT INTO case_tasks (case_id, department_id, assignee, assignee_name, status,"
            " due_at, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (case.id, dept_id, contact, name, TaskStatus.OPEN.value, due, now, now),
        )
        add_participant(conn, case.id, contact, name, "department", None, int(Level.TOWN), now)
        opened = {"department": dept_id, "assignee": contact, "due_at": due.isoformat()}
        history(conn, case.id, now, who, "task_opened", to, to, None, opened)
        _tell(ctx, conn, case, "joint_task", contact, name, now, due, department=dept_id)
    _tell(ctx, conn, case, "joint_case", commander, commander_name, now, due)
    push_live(conn, case.id)


def close_joint(
    conn: psycopg.Connection[Any],
    case: CaseRow,
    actor: Actor | str,
    note: str | None,
    tasks: Sequence[TaskRow],
    now: datetime,
) -> None:
    """Close the locked joint ``case``: at once when every task is done; while one is
    open only by the duty commander, with a reason (OpenTasks otherwise)."""
    remaining = open_tasks(tasks)
    if isinstance(actor, Actor) and actor.role is not Role.DUTY_COMMANDER:
        raise PermissionDenied(str(actor.role), "close", "the duty commander, for a joint case")
    if Status(case.status) not in JOINT_CLOSABLE:
        # The state machine's own refusal names the status and what it allows.
        next_status(case.status, Action.CLOSE, note)
    if remaining and not (note and note.strip()):
        raise OpenTasks(case.id, case.status, remaining)
    who = actor.person if isinstance(actor, Actor) else actor
    _close(conn, case, who, note, now, {"open_tasks": remaining})


def _close(
    conn: psycopg.Connection[Any],
    case: CaseRow,
    who: str,
    note: str | None,
    now: datetime,
    data: dict[str, Any],
) -> None:
    conn.execute(
        "UPDATE cases SET status = %s, closed_at = %s, resolved_at = coalesce(resolved_at, %s),"
        " next_escalation_at = NULL, updated_at = %s WHERE id = %s",
        (Status.CLOSED.value, now, now, now, case.id),
    )
    history(conn, case.id, now, who, "close", case.status, Status.CLOSED.value, note, data)


def task_action(
    conn: psycopg.Connection[Any],
    ctx: Context,
    case_id: int,
    department: str,
    action: TaskAction | str,
    actor: Actor | str,
    note: str | None = None,
) -> TaskRow:
    """Accept or finish ``department``'s task of a joint case; the last task done closes
    the case. CaseNotFound (no such case or task), PermissionDenied (not that
    department's staff), TransitionError (not from the task's status)."""
    now = ctx.clock.now()
    who = actor.person if isinstance(actor, Actor) else actor
    with conn.transaction():
        case = fetch_case(conn, case_id, lock=True)
        if case is None:
            raise CaseNotFound(f"case {case_id} (case_id) not found")
        tasks = tasks_of(conn, case_id)
        task = next((t for t in tasks if t.department_id == department), None)
        if task is None:
            raise CaseNotFound(
                f"case {case_id} has no task for department {department!r};"
                f" its tasks: {[t.department_id for t in tasks]}"
            )
        if isinstance(actor, Actor) and not may_work_task(actor, task):
            raise PermissionDenied(
                str(actor.role), f"task {TaskAction(action).value}", f"{department}'s staff"
            )
        if Status(case.status) not in JOINT_CLOSABLE:
            raise TransitionError(
                f"case {case_id} is {case.status!r}: its tasks no longer change",
                status=case.status,
                action=f"task_{TaskAction(action).value}",
            )
        to = next_task_status(task.status, action)
        stamp = "accepted_at" if to is TaskStatus.ACCEPTED else "done_at"
        conn.execute(
            sql.SQL(
                "UPDATE case_tasks SET status = %s, updated_at = %s, {} = %s"
                " WHERE case_id = %s AND department_id = %s"
            ).format(sql.Identifier(stamp)),
            (to.value, now, now, case_id, department),
        )
        history(
            conn,
            case_id,
            now,
            who,
            f"task_{TaskAction(action).value}",
            case.status,
            case.status,
            note,
            {"department": department, "from": task.status, "to": to.value},
        )
        after = tasks_of(conn, case_id)
        if not open_tasks(after) and Status(case.status) in JOINT_CLOSABLE:
            _close(conn, case, who, None, now, {"all_tasks_done": True})
        push_live(conn, case_id)
        return next(t for t in after if t.department_id == department)


def _tell(
    ctx: Context,
    conn: psycopg.Connection[Any],
    case: CaseRow,
    kind: str,
    person: str,
    name: str | None,
    now: datetime,
    due: datetime,
    **extra: str,
) -> None:
    title, body = render(kind, case.id, case.category, **extra)
    ctx.notifier.send(
        conn,
        Notice(
            person,
            name,
            kind,
            case.id,
            f"case:{case.id}:{kind}:{person}:{now.isoformat()}",
            title,
            body,
            {"deadline": due.isoformat(), **extra},
        ),
        now,
    )
