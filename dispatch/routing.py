"""Pure routing: which unit, grid, village, town, department and person a problem goes to.

Depends only on a small view of the town (:class:`TownView`), which
``gridwatch.town.Town`` satisfies, so the decision is testable without services.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gridwatch.domain import LEVELS, Level


class ContactView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def person_id(self) -> str: ...


class AreaView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def leader(self) -> ContactView | None: ...
    @property
    def liaison(self) -> ContactView | None: ...


class LocationView(Protocol):
    @property
    def unit_id(self) -> str: ...


class HierarchyView(Protocol):
    def locate(self, lon: float, lat: float) -> LocationView | None: ...
    def locate_many(self, lons: Any, lats: Any) -> Sequence[LocationView | None]: ...
    def chain(self, area_id: str) -> Sequence[AreaView]: ...


class DepartmentView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def contact(self) -> str: ...


class PersonView(Protocol):
    @property
    def name(self) -> str: ...


class DeviceView(Protocol):
    @property
    def maintainer(self) -> str | None: ...


class TownView(Protocol):
    @property
    def hierarchy(self) -> HierarchyView: ...
    @property
    def people(self) -> Mapping[str, PersonView]: ...
    def department_for(self, category: str) -> DepartmentView | None: ...
    @property
    def departments(self) -> Mapping[str, DepartmentView]: ...
    @property
    def devices(self) -> Mapping[str, DeviceView]: ...


@dataclass(frozen=True, slots=True)
class Problem:
    """What routing needs from an event or a report."""

    category: str
    lon: float | None = None
    lat: float | None = None
    unit_id: str | None = None  # the camera's unit, or a unit named by the reporter


@dataclass(frozen=True, slots=True)
class Route:
    unit_id: str | None
    grid_id: str | None
    village_id: str | None
    town_id: str | None
    department_id: str | None
    department_contact: str | None
    department_contact_name: str | None
    assignee: str | None
    assignee_name: str | None
    assignee_area: str | None
    assignee_level: Level | None
    note: str

    def area_at(self, level: int) -> str | None:
        return (self.unit_id, self.grid_id, self.village_id, self.town_id)[level]


def contact_key(contact: ContactView) -> str:
    """What a case stores as assignee: the person id (given or derived by the town loader)."""
    return contact.person_id


def first_leader(chain: Sequence[AreaView], start: int = 0) -> tuple[int, AreaView] | None:
    """The first area from ``start`` upwards whose leader post is filled."""
    for index in range(start, len(chain)):
        if chain[index].leader is not None:
            return index, chain[index]
    return None


def route(town: TownView, problem: Problem) -> Route:
    """Route a problem: the unit holding its point, else the given unit, then up the chain."""
    loc = None
    if problem.lon is not None and problem.lat is not None:
        loc = town.hierarchy.locate(problem.lon, problem.lat)
    unit_id, notes = _unit_of(problem, loc)
    return _route_unit(town, problem.category, unit_id, notes)


def route_many(town: TownView, problems: Sequence[Problem]) -> list[Route]:
    """:func:`route` for each problem (same order): every point located in one vectorised
    query, and the rest of a route worked out once per category, unit and note."""
    import numpy as np

    with_point = [k for k, p in enumerate(problems) if p.lon is not None and p.lat is not None]
    locs: list[LocationView | None] = [None] * len(problems)
    if with_point:
        lons = np.array([problems[k].lon for k in with_point], dtype=float)
        lats = np.array([problems[k].lat for k in with_point], dtype=float)
        for k, loc in zip(with_point, town.hierarchy.locate_many(lons, lats), strict=True):
            locs[k] = loc
    done: dict[tuple[str, str | None, tuple[str, ...]], Route] = {}
    out = []
    for problem, loc in zip(problems, locs, strict=True):
        unit_id, notes = _unit_of(problem, loc)
        key = (problem.category, unit_id, tuple(notes))
        found = done.get(key)
        if found is None:
            found = done[key] = _route_unit(town, problem.category, unit_id, notes)
        out.append(found)
    return out


def _unit_of(problem: Problem, loc: LocationView | None) -> tuple[str | None, list[str]]:
    """The unit from the located point, else the given unit; with the notes that explain."""
    notes: list[str] = []
    unit_id: str | None = None
    if loc is not None:
        unit_id = loc.unit_id
    elif problem.lon is not None and problem.lat is not None:
        notes.append(f"point ({problem.lon:.6f},{problem.lat:.6f}) is in no unit")
    if unit_id is None and problem.unit_id is not None:
        unit_id = problem.unit_id
        notes.append(f"routed by device/reported unit {unit_id}")
    return unit_id, notes


def _route_unit(town: TownView, category: str, unit_id: str | None, notes: list[str]) -> Route:
    """The route of a problem of ``category`` in ``unit_id`` (None: no unit known)."""
    chain: Sequence[AreaView] = ()
    if unit_id is not None:
        try:
            chain = town.hierarchy.chain(unit_id)
        except KeyError:
            notes.append(f"unit {unit_id!r} is not in the hierarchy")
            unit_id = None
    ids: dict[str, str] = {area.level: area.id for area in chain}
    dept = town.department_for(category)
    if dept is None:
        notes.append(f"no department owns category {category!r}")
    contact_name: str | None = None
    if dept is not None:
        person = town.people.get(dept.contact)
        contact_name = person.name if person is not None else dept.contact
    found = first_leader(chain)
    if found is None:
        assignee = assignee_name = assignee_area = None
        level: Level | None = None
        notes.append("no leader anywhere up the chain; case stays new")
    else:
        index, area = found
        leader = area.leader
        assert leader is not None
        assignee, assignee_name, assignee_area = contact_key(leader), leader.name, area.id
        level = Level.of(area.level) if area.level in LEVELS else Level(index)
        vacant = [a.id for a in chain[:index]]
        if vacant:
            notes.append(
                f"leader post vacant at {', '.join(vacant)}; assigned to {area.level} "
                f"{area.id} leader {leader.name}"
            )
    return Route(
        unit_id=ids.get("unit"),
        grid_id=ids.get("grid"),
        village_id=ids.get("village"),
        town_id=ids.get("town"),
        department_id=dept.id if dept else None,
        department_contact=dept.contact if dept else None,
        department_contact_name=contact_name,
        assignee=assignee,
        assignee_name=assignee_name,
        assignee_area=assignee_area,
        assignee_level=level,
        note="; ".join(notes),
    )
