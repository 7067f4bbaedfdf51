"""The case state machine, as data: one table of allowed transitions, pure checks.

Main path: new -> assigned -> accepted -> in_progress -> resolved -> verified -> closed.
Side states: rejected (not ours, with a reason; re-routed by ``assign``),
duplicate (of another case), reopened. A resolved or verified case goes back to
in_progress when it is returned for rework (退回重办, ``return``) or followed up
(回访) with an unsatisfied rating; a satisfied follow-up verifies a resolved case
and closes a verified one. ``comment`` and ``escalate`` keep the status.

A joint case (联合处置, ``make_joint``; dispatch/joint.py) is in progress under the
commander on duty, with one task per department; tasks go open -> accepted -> done
(:class:`TaskStatus`), and the case closes when the last one is done, or when the
commander closes it with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from dispatch.errors import ActionInputError, TransitionError


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    REOPENED = "reopened"


class Action(StrEnum):
    ASSIGN = "assign"  # reassign (改派)
    ACCEPT = "accept"
    START = "start"
    RESOLVE = "resolve"
    VERIFY = "verify"  # the grid leader checks the work (核查)
    FOLLOW_UP = "follow_up"  # 回访: becomes RATE_SATISFIED or RATE_UNSATISFIED by the rating
    RATE_SATISFIED = "rate_satisfied"
    RATE_UNSATISFIED = "rate_unsatisfied"
    RETURN = "return"  # 退回重办
    CLOSE = "close"
    REJECT = "reject"
    MARK_DUPLICATE = "mark_duplicate"  # merge into another case
    REOPEN = "reopen"
    COMMENT = "comment"
    ESCALATE = "escalate"  # by hand, one level up
    MAKE_JOINT = "make_joint"  # 联合处置: a task for each of several departments


class TaskStatus(StrEnum):
    """A joint case's department task."""

    OPEN = "open"  # handed to the department, not yet taken on
    ACCEPTED = "accepted"  # the department has taken it on
    DONE = "done"  # the department's part is done


class TaskAction(StrEnum):
    ACCEPT = "accept"
    DONE = "done"


#: Other names the case API may use for an action.
ALIASES: dict[str, Action] = {"reassign": Action.ASSIGN, "merge": Action.MARK_DUPLICATE}

S, A = Status, Action
_OPEN = (S.NEW, S.ASSIGNED, S.ACCEPTED, S.IN_PROGRESS, S.REOPENED)

#: (from, action) -> to. Anything absent is refused. FOLLOW_UP is not here: the
#: rating turns it into RATE_SATISFIED or RATE_UNSATISFIED (:func:`follow_up`).
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    **{(s, A.ASSIGN): S.ASSIGNED for s in (S.NEW, S.REJECTED, S.REOPENED, S.ASSIGNED)},
    (S.ACCEPTED, A.ASSIGN): S.ASSIGNED,
    (S.IN_PROGRESS, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.ACCEPT): S.ACCEPTED,
    (S.REOPENED, A.ACCEPT): S.ACCEPTED,
    (S.ACCEPTED, A.START): S.IN_PROGRESS,
    (S.ACCEPTED, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.VERIFY): S.VERIFIED,
    (S.RESOLVED, A.RATE_SATISFIED): S.VERIFIED,
    (S.VERIFIED, A.RATE_SATISFIED): S.CLOSED,
    (S.RESOLVED, A.RATE_UNSATISFIED): S.IN_PROGRESS,
    (S.VERIFIED, A.RATE_UNSATISFIED): S.IN_PROGRESS,
    (S.RESOLVED, A.RETURN): S.IN_PROGRESS,
    (S.VERIFIED, A.RETURN): S.IN_PROGRESS,
    (S.VERIFIED, A.CLOSE): S.CLOSED,
    **{(s, A.REJECT): S.REJECTED for s in (S.NEW, S.ASSIGNED, S.ACCEPTED, S.REOPENED)},
    **{(s, A.MARK_DUPLICATE): S.DUPLICATE for s in _OPEN},
    (S.RESOLVED, A.REOPEN): S.REOPENED,
    (S.VERIFIED, A.REOPEN): S.REOPENED,
    (S.CLOSED, A.REOPEN): S.REOPENED,
    **{(s, A.COMMENT): s for s in Status},
    **{(s, A.ESCALATE): s for s in _OPEN},
    **{(s, A.MAKE_JOINT): S.IN_PROGRESS for s in _OPEN},
}

#: (task status, task action) -> task status. Anything absent is refused.
TASK_TRANSITIONS: dict[tuple[TaskStatus, TaskAction], TaskStatus] = {
    (TaskStatus.OPEN, TaskAction.ACCEPT): TaskStatus.ACCEPTED,
    (TaskStatus.ACCEPTED, TaskAction.DONE): TaskStatus.DONE,
}
#: Statuses from which the commander may close a joint case (with a reason while a
#: task is still open); the last task done closes it from these too.
JOINT_CLOSABLE: frozenset[Status] = frozenset({*_OPEN, S.RESOLVED, S.VERIFIED})

OPEN_STATUSES: frozenset[Status] = frozenset(_OPEN)
#: Statuses in which the accept-by deadline still runs.
AWAITING_ACCEPT: frozenset[Status] = frozenset({S.NEW, S.ASSIGNED, S.REOPENED})
#: Statuses in which the resolve-by deadline still runs.
AWAITING_RESOLVE: frozenset[Status] = OPEN_STATUSES

#: Actions that need a note (a reason) to be recorded.
NEEDS_NOTE: frozenset[Action] = frozenset(
    {A.REJECT, A.RATE_UNSATISFIED, A.RETURN, A.REOPEN, A.COMMENT}
)
#: Actions that send the case back for rework: ``cases.returns + 1``, fresh resolve deadline.
RETURNS: frozenset[Action] = frozenset({A.RETURN, A.RATE_UNSATISFIED})

#: A follow-up rating from this up counts as satisfied (3 基本满意, 4 满意, 5 非常满意).
SATISFIED_FROM = 3
RATINGS = range(1, 6)


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    from_status: Status
    to_status: Status


def parse_action(name: Action | str) -> Action:
    """The action called ``name`` (or one of its :data:`ALIASES`); TransitionError otherwise."""
    if isinstance(name, Action):
        return name
    if name in ALIASES:
        return ALIASES[name]
    try:
        return Action(name)
    except ValueError as exc:
        known = sorted([a.value for a in Action] + list(ALIASES))
        raise TransitionError(f"unknown action {name!r}; known: {known}", action=name) from exc


def follow_up(action: Action, rating: int | None) -> Action:
    """The concrete follow-up action for ``rating`` (1..5); checks an explicit one matches."""
    if rating is None or isinstance(rating, bool) or rating not in RATINGS:
        raise ActionInputError("rating", rating, "an integer 1..5 for a follow-up")
    satisfied = rating >= SATISFIED_FROM
    concrete = A.RATE_SATISFIED if satisfied else A.RATE_UNSATISFIED
    if action is not A.FOLLOW_UP and action is not concrete:
        expected = f">= {SATISFIED_FROM}" if action is A.RATE_SATISFIED else f"< {SATISFIED_FROM}"
        raise ActionInputError("rating", rating, f"{expected} for {action.value!r}")
    return concrete


def next_status(
    current: Status | str,
    action: Action | str,
    note: str | None = None,
    *,
    rating: int | None = None,
) -> Step:
    """The step ``action`` takes from ``current``: TransitionError naming both when the table
    refuses it, ActionInputError when a reason or a rating is missing."""
    try:
        cur = Status(current)
    except ValueError as exc:
        raise TransitionError(f"unknown status {current!r}", status=str(current)) from exc
    act = parse_action(action)
    if act in (A.FOLLOW_UP, A.RATE_SATISFIED, A.RATE_UNSATISFIED):
        if not any((cur, a) in TRANSITIONS for a in (A.RATE_SATISFIED, A.RATE_UNSATISFIED)):
            _refuse(cur, act)
        act = follow_up(act, rating)
    to = TRANSITIONS.get((cur, act))
    if to is None:
        _refuse(cur, act)
    if act in NEEDS_NOTE and not (note and note.strip()):
        raise ActionInputError("note", note, f"a reason for {act.value!r}")
    return Step(act, cur, to)


def _refuse(cur: Status, act: Action) -> NoReturn:
    allowed = [a.value for a in allowed_actions(cur)]
    raise TransitionError(
        f"action {act.value!r} is not allowed from status {cur.value!r}; allowed: {allowed}",
        status=cur.value,
        action=act.value,
    )


def allowed_actions(current: Status | str) -> list[Action]:
    """The actions the table allows from ``current``, FOLLOW_UP included where a rating is."""
    cur = Status(current)
    found = [a for (s, a) in TRANSITIONS if s is cur]
    if A.RATE_SATISFIED in found or A.RATE_UNSATISFIED in found:
        found.append(A.FOLLOW_UP)
    return sorted(set(found), key=list(Action).index)


def next_task_status(current: TaskStatus | str, action: TaskAction | str) -> TaskStatus:
    """The task status after ``action``; TransitionError naming both when refused."""
    cur = TaskStatus(current)
    try:
        act = TaskAction(action)
    except ValueError as exc:
        known = [a.value for a in TaskAction]
        raise TransitionError(f"unknown task action {action!r}; known: {known}") from exc
    to = TASK_TRANSITIONS.get((cur, act))
    if to is None:
        allowed = [a.value for (s, a) in TASK_TRANSITIONS if s is cur]
        raise TransitionError(
            f"task action {act.value!r} is not allowed from task status {cur.value!r};"
            f" allowed: {allowed}",
            status=cur.value,
            action=act.value,
        )
    return to
