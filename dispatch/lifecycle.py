"""The case state machine, as data: one table of allowed transitions, pure checks.

Main path: new -> assigned -> accepted -> in_progress -> resolved -> verified -> closed.
Side states: rejected (not ours, with a reason; re-routed by ``assign``),
duplicate (of another case), reopened. Follow-up (回访): ``rate`` after
resolution either verifies the case (satisfied) or returns it for rework
(退回重办, counted in ``cases.returns``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dispatch.errors import TransitionError


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
    ASSIGN = "assign"
    ACCEPT = "accept"
    START = "start"
    RESOLVE = "resolve"
    RATE_SATISFIED = "rate_satisfied"
    RATE_UNSATISFIED = "rate_unsatisfied"  # 退回重办
    CLOSE = "close"
    REJECT = "reject"
    MARK_DUPLICATE = "mark_duplicate"
    REOPEN = "reopen"


S, A = Status, Action
_OPEN = (S.NEW, S.ASSIGNED, S.ACCEPTED, S.IN_PROGRESS, S.REOPENED)

#: (from, action) -> to. Anything absent is refused.
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (S.NEW, A.ASSIGN): S.ASSIGNED,
    (S.REJECTED, A.ASSIGN): S.ASSIGNED,
    (S.REOPENED, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.ACCEPT): S.ACCEPTED,
    (S.REOPENED, A.ACCEPT): S.ACCEPTED,
    (S.ACCEPTED, A.START): S.IN_PROGRESS,
    (S.ACCEPTED, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.RATE_SATISFIED): S.VERIFIED,
    (S.RESOLVED, A.RATE_UNSATISFIED): S.IN_PROGRESS,
    (S.VERIFIED, A.CLOSE): S.CLOSED,
    (S.NEW, A.REJECT): S.REJECTED,
    (S.ASSIGNED, A.REJECT): S.REJECTED,
    (S.ACCEPTED, A.REJECT): S.REJECTED,
    (S.REOPENED, A.REJECT): S.REJECTED,
    **{(s, A.MARK_DUPLICATE): S.DUPLICATE for s in _OPEN},
    (S.RESOLVED, A.REOPEN): S.REOPENED,
    (S.VERIFIED, A.REOPEN): S.REOPENED,
    (S.CLOSED, A.REOPEN): S.REOPENED,
}

OPEN_STATUSES: frozenset[Status] = frozenset(_OPEN)
#: Statuses in which the accept-by deadline still runs.
AWAITING_ACCEPT: frozenset[Status] = frozenset({S.NEW, S.ASSIGNED, S.REOPENED})
#: Statuses in which the resolve-by deadline still runs.
AWAITING_RESOLVE: frozenset[Status] = OPEN_STATUSES

#: Actions that need a note (a reason) to be recorded.
NEEDS_NOTE: frozenset[Action] = frozenset({A.REJECT, A.RATE_UNSATISFIED, A.REOPEN})


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    from_status: Status
    to_status: Status


def next_status(current: Status | str, action: Action | str, note: str | None = None) -> Step:
    """The status after ``action``, or TransitionError naming both."""
    try:
        cur, act = Status(current), Action(action)
    except ValueError as exc:
        raise TransitionError(f"unknown status {current!r} or action {action!r}") from exc
    to = TRANSITIONS.get((cur, act))
    if to is None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s is cur)
        raise TransitionError(
            f"action {act.value!r} is not allowed from status {cur.value!r}; allowed: {allowed}"
        )
    if act in NEEDS_NOTE and not (note and note.strip()):
        raise TransitionError(f"action {act.value!r} needs a reason (note)")
    return Step(act, cur, to)


def allowed_actions(current: Status | str) -> list[Action]:
    cur = Status(current)
    return [a for (s, a) in TRANSITIONS if s is cur]
