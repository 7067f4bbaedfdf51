"""Who is told of a case, besides the escalation chain: pure, from ``routing.yaml``'s ``tell:``.

- On opening: the assignee; for the categories a device's maintainer looks after
  (a moved or covered camera), the device's maintainer instead of the unit leader,
  who would only forward it; and the contact of the department that owns the
  category, so the department hears of its cases as they open.
- On resolving: the person who raised a report (a resident or Party member in
  people.yaml), so the one who asked hears the answer.

The case itself is still assigned by routing (``dispatch.routing``); this decides
only whose notices go out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from dispatch.routing import DepartmentView, DeviceView, PersonView
from gridwatch.domain import Category
from gridwatch.fields import CategoryId

#: Notice kinds that only inform: nothing waits on their reader, so one that cannot be
#: delivered does not escalate its case (the assignee's notices do).
FOR_INFORMATION = frozenset({"department_opened", "resolved_for_raiser"})


class TellRules(BaseModel):
    """``tell:`` of ``routing.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    department_on_open: bool = Field(
        True, description="tell the owning department's contact when a case opens"
    )
    maintainer_categories: frozenset[CategoryId] = Field(
        frozenset({Category.CAMERA_TAMPER.value}),
        description="categories told to the device's maintainer instead of the assignee",
    )
    raiser_on_resolve: bool = Field(
        True, description="tell the person who raised a report when its case is resolved"
    )


@dataclass(frozen=True, slots=True)
class Told:
    """One person to tell, and the notice kind (``dispatch.notify.TEMPLATES``)."""

    person: str
    name: str | None
    kind: str


def told_on_open(
    rules: TellRules,
    *,
    category: str,
    assignee: str | None,
    assignee_name: str | None,
    department_id: str | None,
    device_id: str | None,
    departments: Mapping[str, DepartmentView],
    devices: Mapping[str, DeviceView],
    people: Mapping[str, PersonView],
) -> list[Told]:
    """Whom a newly opened case is announced to, each person once."""
    out: list[Told] = []
    device = devices.get(device_id) if device_id is not None else None
    maintainer = device.maintainer if device is not None else None
    if category in rules.maintainer_categories and maintainer is not None:
        out.append(Told(maintainer, _name(people, maintainer), "assigned"))
    elif assignee is not None:
        out.append(Told(assignee, assignee_name, "assigned"))
    department = departments.get(department_id) if department_id is not None else None
    if rules.department_on_open and department is not None:
        contact = department.contact
        if contact and contact not in {t.person for t in out}:
            out.append(Told(contact, _name(people, contact), "department_opened"))
    return out


def told_on_resolve(
    rules: TellRules, *, raised_by: str | None, people: Mapping[str, PersonView]
) -> Told | None:
    """The raiser of a report to tell of its resolution; None when not a known person."""
    if not rules.raiser_on_resolve or raised_by is None or raised_by not in people:
        return None
    return Told(raised_by, _name(people, raised_by), "resolved_for_raiser")


def _name(people: Mapping[str, PersonView], person_id: str) -> str | None:
    person = people.get(person_id)
    return person.name if person is not None else None
