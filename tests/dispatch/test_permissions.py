"""The role x action table: who may take which case action, given their relation to it."""

from __future__ import annotations

import pytest

from dispatch.errors import PermissionDenied
from dispatch.lifecycle import Action, Status, next_status
from dispatch.permissions import PERMISSIONS, Actor, check, may_act, offered, relation_of
from gridwatch.domain import Role

R = Role


@pytest.mark.parametrize(
    ("role", "action", "relation", "expected"),
    [
        (R.UNIT_LEADER, "accept", {"is_assignee": True}, True),
        (R.UNIT_LEADER, "accept", {}, False),  # not their case
        (R.UNIT_LEADER, "resolve", {"is_assignee": True}, True),
        (R.UNIT_LEADER, "reject", {"is_assignee": True}, True),
        (R.UNIT_LEADER, "verify", {"is_assignee": True}, False),
        (R.UNIT_LEADER, "follow_up", {"is_assignee": True}, False),
        (R.UNIT_LEADER, "rate_satisfied", {"is_assignee": True}, False),
        (R.UNIT_LEADER, "comment", {}, True),
        (R.GRID_LEADER, "verify", {}, True),
        (R.GRID_LEADER, "return", {}, True),
        (R.GRID_LEADER, "escalate", {}, True),
        (R.GRID_LEADER, "comment", {}, True),
        (R.GRID_LEADER, "accept", {}, False),
        (R.GRID_LEADER, "accept", {"is_assignee": True}, True),  # a vacant unit's case
        (R.GRID_LEADER, "reassign", {"target_in_area": True}, True),
        (R.GRID_LEADER, "reassign", {}, False),  # outside their grid
        (R.GRID_LEADER, "merge", {}, False),
        (R.DUTY_COMMANDER, "merge", {}, True),
        (R.DUTY_COMMANDER, "assign", {}, True),
        (R.DUTY_COMMANDER, "escalate", {}, True),
        (R.DUTY_COMMANDER, "rate_unsatisfied", {}, True),
        (R.DEPARTMENT_STAFF, "accept", {"in_department": True}, True),
        (R.DEPARTMENT_STAFF, "resolve", {"in_department": True}, True),
        (R.DEPARTMENT_STAFF, "resolve", {"is_assignee": True}, False),
        (R.DEPARTMENT_STAFF, "verify", {"in_department": True}, False),
        (R.PLATFORM, "follow_up", {"is_raiser": True}, True),
        (R.PLATFORM, "follow_up", {}, False),
        (R.PLATFORM, "comment", {"is_raiser": True}, True),
        (R.PLATFORM, "accept", {"is_raiser": True}, False),
        (R.AUDITOR, "comment", {"is_assignee": True, "is_raiser": True}, False),
        (R.DEVICE_ADMIN, "comment", {}, False),
    ],
)
def test_who_may_act(role: Role, action: str, relation: dict[str, bool], expected: bool) -> None:
    assert may_act(role, action, **relation) is expected


def test_the_auditor_may_do_nothing_and_every_role_is_in_the_table() -> None:
    assert set(PERMISSIONS) == set(Role)
    for action in Action:
        everything = dict(is_assignee=True, in_department=True, is_raiser=True, target_in_area=True)
        assert not may_act(Role.AUDITOR, action, **everything)
        assert may_act(Role.DUTY_COMMANDER, action)


def test_a_refusal_names_the_role_the_action_and_what_it_needs() -> None:
    with pytest.raises(PermissionDenied) as err:
        check(Role.UNIT_LEADER, "resolve")
    assert (err.value.role, err.value.action) == ("unit_leader", "resolve")
    assert "only cases assigned to them" in str(err.value)
    with pytest.raises(PermissionDenied, match="'auditor' may not 'comment'"):
        check(Role.AUDITOR, "comment")


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("mine", [True, False])
def test_every_action_offered_is_one_the_route_would_take(
    role: Role, status: Status, mine: bool
) -> None:
    actor = Actor("P1", role, areas=frozenset({"V01-G01"}), departments=frozenset({"police"}))
    relation = relation_of(
        actor,
        assignee="P1" if mine else "P2",
        department_id="police" if mine else "fire",
        raised_by="P1" if mine else None,
    )
    relation["target_in_area"] = True  # offered to an area's leader; checked when taken
    for action in offered(actor, status, relation):
        check(role, action, **relation)
        rating = 4 if action is Action.FOLLOW_UP else None
        next_status(status, action, "理由", rating=rating)  # raises when not from this status


def test_a_unit_leader_is_offered_the_work_on_their_case_and_a_grid_leader_oversight() -> None:
    unit = Actor("P6", Role.UNIT_LEADER)
    grid = Actor("P3", Role.GRID_LEADER, areas=frozenset({"V01-G01"}))
    case = {"assignee": "P6", "department_id": None, "raised_by": None}
    assert offered(unit, Status.ASSIGNED, relation_of(unit, **case)) == [
        Action.ACCEPT,
        Action.REJECT,
        Action.COMMENT,
        Action.ESCALATE,
    ]
    assert offered(grid, Status.ASSIGNED, relation_of(grid, **case)) == [
        Action.ASSIGN,
        Action.COMMENT,
        Action.ESCALATE,
    ]
    assert Action.VERIFY in offered(grid, Status.RESOLVED, relation_of(grid, **case))
    assert offered(Actor("A", Role.AUDITOR), Status.ASSIGNED, relation_of(unit, **case)) == []
