"""Who is calling and what part of the town they may see.

A person's scope comes from their posts in people.yaml and the town's hierarchy:
a grid leader of G sees G and its units, a village leader the village, its grids
and units, department staff their department's cases. The town leader, the duty
commander, the auditor, platforms and the device admin see the whole town.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.auth.errors import UnknownPerson
from gridwatch.domain import LEADER_ROLE, Level, Role
from gridwatch.town import Hierarchy, Person, Town

#: The case columns a scope can be bounded by (``Scope.bound``).
BoundKind = Literal["unit", "grid", "village", "department"]

#: Roles that see the whole town.
TOWN_WIDE: frozenset[Role] = frozenset(
    {Role.TOWN_LEADER, Role.DUTY_COMMANDER, Role.AUDITOR, Role.PLATFORM, Role.DEVICE_ADMIN}
)
#: Roles that may see the phone numbers of the people below them.
SEES_PHONES: frozenset[Role] = frozenset(
    {
        Role.DUTY_COMMANDER,
        Role.TOWN_LEADER,
        Role.VILLAGE_LEADER,
        Role.GRID_LEADER,
        Role.UNIT_LEADER,
    }
)
#: When a person's posts give several roles, the widest wins.
_RANK = (
    Role.TOWN_LEADER,
    Role.DUTY_COMMANDER,
    Role.VILLAGE_LEADER,
    Role.GRID_LEADER,
    Role.UNIT_LEADER,
    Role.DEPARTMENT_STAFF,
)


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the town a caller may see; ``all`` overrides the sets."""

    all: bool = False
    units: frozenset[str] = frozenset()
    grids: frozenset[str] = frozenset()
    villages: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    phones: bool = False
    #: The caller's own person id: the cases assigned to them are theirs wherever they
    #: are (a case reassigned outside their area). None for API keys and town-wide roles.
    assignee: str | None = None
    #: The one unit, grid, village or department every case of the scope belongs to,
    #: when there is one (a leader of one area, staff of one department). The case list
    #: filters on it as well: row-level security still decides, but the filter lets
    #: PostgreSQL walk that column's ``(x, id)`` index instead of checking the policy
    #: on every newer case of the town. It relies on a case carrying its unit's grid
    #: and village (``dispatch.routing`` takes all from the unit's chain).
    bound: tuple[BoundKind, str] | None = None

    @property
    def empty(self) -> bool:
        return not (self.all or self.units or self.grids or self.villages or self.departments)

    def covers_unit(self, unit_id: str | None) -> bool:
        return self.all or (unit_id is not None and unit_id in self.units)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a person (``subject`` = person id) or an API key
    (``subject`` = ``key:<id>``, ``person_id`` None)."""

    subject: str
    person_id: str | None
    name: str | None
    role: Role
    scope: Scope


def role_from_posts(town: Town, person: Person) -> Role:
    """The role a person's posts give; UnknownPerson when none does (say ``--role``)."""
    found: set[Role] = set()
    for post in person.posts:
        if post.kind == "duty_commander":
            found.add(Role.DUTY_COMMANDER)
        elif post.kind == "department_staff":
            found.add(Role.DEPARTMENT_STAFF)
        elif post.kind == "leader" and post.area is not None and post.area in town.hierarchy.areas:
            found.add(LEADER_ROLE[Level.of(town.hierarchy.areas[post.area].level)])
    for role in _RANK:
        if role in found:
            return role
    kinds: list[str] = sorted({p.kind for p in person.posts}) or ["no posts"]
    raise UnknownPerson(
        f"person {person.id} ({person.name}) holds {kinds}: no role follows; give one with"
        f" --role (one of {[r.value for r in Role]}) / 无法由岗位确定角色"
    )


def scope_for(town: Town, role: Role, person_id: str | None) -> Scope:
    """The scope of ``role`` held by ``person_id`` (None for an API key)."""
    phones = role in SEES_PHONES
    if role in TOWN_WIDE:
        return Scope(all=True, phones=phones)
    person = town.people.get(person_id) if person_id is not None else None
    if person is None:
        return Scope(phones=False)
    h = town.hierarchy
    units: set[str] = set()
    grids: set[str] = set()
    villages: set[str] = set()
    departments: set[str] = set()
    for post in person.posts:
        if role is Role.DEPARTMENT_STAFF:
            if post.kind == "department_staff" and post.department is not None:
                departments.add(post.department)
            continue
        if post.kind not in ("leader", "sent_down_cadre") or post.area is None:
            continue
        if post.area not in h.areas:
            continue
        area = h.areas[post.area]
        if area.level == "town":
            return Scope(all=True, phones=phones)
        under = h.units_under(area.id)
        units.update(under)
        for unit in under:
            loc = h.location_of_unit(unit)
            if area.level == "village":
                villages.add(loc.village_id)
                grids.add(loc.grid_id)
            elif area.level == "grid":
                grids.add(loc.grid_id)
    if role is Role.DEPARTMENT_STAFF and person.department and not departments:
        departments.add(person.department)
    return Scope(
        units=frozenset(units),
        grids=frozenset(grids),
        villages=frozenset(villages),
        departments=frozenset(departments),
        phones=phones,
        assignee=person.id,
        bound=_bound(h, units, grids, villages, departments),
    )


def _bound(
    h: Hierarchy, units: set[str], grids: set[str], villages: set[str], departments: set[str]
) -> tuple[BoundKind, str] | None:
    """The one area or department holding all of a scope, or None (several, or mixed).

    Grids and villages enter a scope only with their units (``scope_for``), so the
    units decide: all in one village, or with no village all in one grid.
    """
    if departments:
        if len(departments) == 1 and not (units or grids or villages):
            return ("department", next(iter(departments)))
        return None
    locations = [h.location_of_unit(u) for u in units]
    if len(villages) == 1:
        (village,) = villages
        return ("village", village) if all(x.village_id == village for x in locations) else None
    if villages:
        return None
    if len(grids) == 1:
        (grid,) = grids
        return ("grid", grid) if all(x.grid_id == grid for x in locations) else None
    if grids:
        return None
    return ("unit", next(iter(units))) if len(units) == 1 else None
