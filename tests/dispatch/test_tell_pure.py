"""The pure half of who is told (dispatch/tell.py), and its config's checks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from dispatch.tell import TellRules, told_on_open, told_on_resolve


@dataclass(frozen=True)
class _Person:
    name: str


@dataclass(frozen=True)
class _Dept:
    id: str
    contact: str


@dataclass(frozen=True)
class _Device:
    maintainer: str | None


PEOPLE = {
    "L1": _Person("单元长"),
    "C1": _Person("联络员"),
    "M1": _Person("运维"),
    "R1": _Person("居民"),
}
DEPTS = {"urban": _Dept("urban", "C1")}
DEVICES = {"cam-1": _Device("M1"), "cam-2": _Device(None)}


def _open(rules: TellRules, category: str, device: str | None, dept: str | None = "urban",
          assignee: str | None = "L1") -> list[tuple[str, str]]:  # fmt: skip
    told = told_on_open(
        rules,
        category=category,
        assignee=assignee,
        assignee_name=None,
        department_id=dept,
        device_id=device,
        departments=DEPTS,
        devices=DEVICES,
        people=PEOPLE,
    )
    return [(t.person, t.kind) for t in told]


@pytest.mark.parametrize(
    ("rules", "category", "device", "dept", "assignee", "expected"),
    [
        (TellRules(), "sanitation", "cam-1", "urban", "L1",
         [("L1", "assigned"), ("C1", "department_opened")]),
        (TellRules(), "camera_tamper", "cam-1", "urban", "L1",
         [("M1", "assigned"), ("C1", "department_opened")]),
        # No maintainer on record: the unit leader after all.
        (TellRules(), "camera_tamper", "cam-2", None, "L1", [("L1", "assigned")]),
        (TellRules(department_on_open=False), "sanitation", None, "urban", "L1",
         [("L1", "assigned")]),
        # The contact is the assignee: told once.
        (TellRules(), "sanitation", None, "urban", "C1", [("C1", "assigned")]),
        (TellRules(maintainer_categories=frozenset()), "camera_tamper", "cam-1", None, "L1",
         [("L1", "assigned")]),
    ],
)  # fmt: skip
def test_who_hears_of_a_new_case(
    rules: TellRules, category: str, device: str | None, dept: str | None,
    assignee: str | None, expected: list[tuple[str, str]],
) -> None:  # fmt: skip
    assert _open(rules, category, device, dept, assignee) == expected


def test_only_a_known_raiser_hears_of_the_resolution() -> None:
    told = told_on_resolve(TellRules(), raised_by="R1", people=PEOPLE)
    assert told is not None and (told.person, told.name) == ("R1", "居民")
    assert told_on_resolve(TellRules(), raised_by="resident-139", people=PEOPLE) is None
    assert (
        told_on_resolve(TellRules(raiser_on_resolve=False), raised_by="R1", people=PEOPLE) is None
    )


def test_tell_rules_refuse_unknown_keys_and_categories() -> None:
    with pytest.raises(ValidationError, match="department_on_opne"):
        TellRules.model_validate({"department_on_opne": True})
    with pytest.raises(ValidationError, match="maintainer_categories"):
        TellRules.model_validate({"maintainer_categories": ["camera_tampr"]})
