"""The role x action table: who may take which case action, given their relation to it."""

from __future__ import annotations

import pytest

from dispatch.errors import PermissionDenied
from dispatch.lifecycle import Action
from dispatch.permissions import PERMISSIONS, check, may_act
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
