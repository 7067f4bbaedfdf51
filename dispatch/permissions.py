"""Who may take which case action: one table of role x action, pure checks.

Which cases a person may see at all is enforced elsewhere (row-level security);
the state machine (``dispatch.lifecycle``) decides what an action does in a
state. This module decides only whether a role may take an action on a case,
given the person's relation to that case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypedDict, Unpack

from dispatch.errors import PermissionDenied
from dispatch.lifecycle import JOINT_CLOSABLE, Action, Status, allowed_actions, parse_action
from gridwatch.domain import Role


class Needs(StrEnum):
    """What must hold of the person and the case for a permitted action."""

    ANY = "any case they can see"
    ASSIGNEE = "cases assigned to them"
    DEPARTMENT = "their department's cases"
    RAISER = "cases they raised"
    AREA = "a new assignee inside their own area"


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated person (or platform key) acting on cases.

    ``areas``: the ids of the areas this person leads (a grid leader: the grid);
    ``everywhere``: the whole town is theirs (town leader, duty commander);
    ``departments``: the departments a member of staff works for.
    """

    person: str
    role: Role
    name: str | None = None
    areas: frozenset[str] = field(default_factory=frozenset)
    departments: frozenset[str] = field(default_factory=frozenset)
    everywhere: bool = False


A, N = Action, Needs
_WORK = {A.ACCEPT: N.ASSIGNEE, A.REJECT: N.ASSIGNEE, A.START: N.ASSIGNEE, A.RESOLVE: N.ASSIGNEE}
#: Grid, village and town leaders: work on what they hold, oversee the rest of their area.
_SUPERVISOR = {
    **_WORK,
    A.VERIFY: N.ANY,
    A.RETURN: N.ANY,
    A.FOLLOW_UP: N.ANY,
    A.REOPEN: N.ANY,
    A.CLOSE: N.ANY,
    A.ESCALATE: N.ANY,
    A.COMMENT: N.ANY,
    A.ASSIGN: N.AREA,
}

#: role -> the actions it may take and what must hold. Absent: refused.
PERMISSIONS: dict[Role, dict[Action, Needs]] = {
    Role.DUTY_COMMANDER: {
        a: N.ANY for a in Action if a not in (A.RATE_SATISFIED, A.RATE_UNSATISFIED)
    },
    Role.TOWN_LEADER: _SUPERVISOR,
    Role.VILLAGE_LEADER: _SUPERVISOR,
    Role.GRID_LEADER: _SUPERVISOR,
    Role.UNIT_LEADER: {**_WORK, A.ESCALATE: N.ASSIGNEE, A.COMMENT: N.ANY},
    Role.DEPARTMENT_STAFF: {
        A.ACCEPT: N.DEPARTMENT,
        A.START: N.DEPARTMENT,
        A.RESOLVE: N.DEPARTMENT,
        A.COMMENT: N.DEPARTMENT,
    },
    Role.PLATFORM: {A.COMMENT: N.RAISER, A.FOLLOW_UP: N.RAISER},
    Role.DEVICE_ADMIN: {},
    Role.AUDITOR: {},
}

#: Actions checked under another action's permission: a rated follow-up is a follow-up.
_CHECKED_AS: dict[Action, Action] = {
    A.RATE_SATISFIED: A.FOLLOW_UP,
    A.RATE_UNSATISFIED: A.FOLLOW_UP,
}


def needs(role: Role, action: Action | str) -> Needs | None:
    """What ``role`` needs to take ``action``; None when it may never take it."""
    act = parse_action(action)
    return PERMISSIONS[Role(role)].get(_CHECKED_AS.get(act, act))


class Relation(TypedDict, total=False):
    """The person's relation to the case; each left out is False."""

    is_assignee: bool  # the case is assigned to them
    in_department: bool  # it belongs to their department
    is_raiser: bool  # they raised it
    target_in_area: bool  # a reassignment's new assignee lies inside an area they lead


def may_act(role: Role, action: Action | str, **relation: Unpack[Relation]) -> bool:
    """Whether ``role`` may take ``action`` on a case, given the person's :class:`Relation`
    to it."""
    found = needs(role, action)
    held = {
        Needs.ANY: True,
        Needs.ASSIGNEE: relation.get("is_assignee", False),
        Needs.DEPARTMENT: relation.get("in_department", False),
        Needs.RAISER: relation.get("is_raiser", False),
        Needs.AREA: relation.get("target_in_area", False),
    }
    return found is not None and held[found]


def check(role: Role, action: Action | str, **relation: Unpack[Relation]) -> None:
    """PermissionDenied naming the role, the action and what it needs, unless :func:`may_act`."""
    if not may_act(role, action, **relation):
        found = needs(role, action)
        raise PermissionDenied(
            str(role), parse_action(action).value, found.value if found else None
        )


def relation_of(
    actor: Actor, *, assignee: str | None, department_id: str | None, raised_by: str | None
) -> Relation:
    """The actor's :class:`Relation` to a case with these columns (the reassignment's
    target aside: that depends on the area chosen)."""
    return Relation(
        is_assignee=assignee is not None and assignee == actor.person,
        in_department=department_id is not None and department_id in actor.departments,
        is_raiser=raised_by is not None and raised_by == actor.person,
    )


#: A follow-up is offered as one action; its rating picks which of these it becomes.
_RATED = frozenset({A.RATE_SATISFIED, A.RATE_UNSATISFIED})


def offered(
    actor: Actor, status: Status | str, relation: Relation, *, joint: bool = False
) -> list[Action]:
    """The actions a page may offer ``actor`` on a case in ``status``: allowed from that
    status and permitted to the role. A reassignment is offered to whoever leads an
    area (or the whole town); the area they pick is checked when they take it. A
    ``joint`` case is not made joint again, and only the duty commander closes it
    (``dispatch.joint``), from any status but closed."""
    held = relation.copy()
    held["target_in_area"] = actor.everywhere or bool(actor.areas)
    found = [
        a for a in allowed_actions(status) if a not in _RATED and may_act(actor.role, a, **held)
    ]
    if not joint:
        return found
    found = [a for a in found if a not in (A.MAKE_JOINT, A.CLOSE)]
    if actor.role is Role.DUTY_COMMANDER and Status(status) in JOINT_CLOSABLE:
        found.append(A.CLOSE)
    return found
