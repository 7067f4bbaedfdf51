"""The administrative hierarchy: town, villages, grids, units, with leaders and shapes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from gridwatch.town.errors import TownError
from gridwatch.town.locate import IndexArray, PointLocator


class UnknownAreaError(TownError, KeyError):
    """An area id that is not in the hierarchy."""


@dataclass(frozen=True)
class Contact:
    """A leader or liaison: always carries a person id (given or derived)."""

    person_id: str
    name: str
    phone: str


@dataclass(frozen=True)
class Area:
    """One node of the hierarchy; ``parent`` is None only for the town."""

    id: str
    level: str
    name: str
    parent: str | None
    leader: Contact | None
    liaison: Contact | None


@dataclass(frozen=True)
class Location:
    """The unit a point lies in, with its grid, village and town."""

    unit_id: str
    grid_id: str
    village_id: str
    town_id: str


def derived_person_id(area_id: str, name: str, phone: str) -> str:
    """Stable id for a contact given only inline as ``{name, phone}``.

    ``p-`` plus the first 12 hex digits of SHA-256 over ``area_id|name|phone``
    (UTF-8): the same inline contact on the same area always gets the same id,
    and a leader who is also the unit's liaison is one person with two posts.
    """
    digest = hashlib.sha256(f"{area_id}|{name}|{phone}".encode()).hexdigest()
    return f"p-{digest[:12]}"


@dataclass(frozen=True)
class AreaShape:
    """An area and its geometry, as validated from the GeoJSON."""

    area: Area
    geometry: BaseGeometry
    extra: Mapping[str, Any] = field(default_factory=dict)


class Hierarchy:
    """A validated hierarchy. Build it with :func:`gridwatch.town.load_hierarchy`."""

    def __init__(self, shapes: Sequence[AreaShape]) -> None:
        areas = {s.area.id: s.area for s in shapes}
        self.areas: Mapping[str, Area] = MappingProxyType(areas)
        self.geometries: Mapping[str, BaseGeometry] = MappingProxyType(
            {s.area.id: s.geometry for s in shapes}
        )
        towns = [a.id for a in areas.values() if a.level == "town"]
        self.town_id: str = towns[0] if len(towns) == 1 else ""
        #: Unit ids sorted as strings: index ``i`` of :meth:`locate_index` is ``unit_ids[i]``.
        self.unit_ids: tuple[str, ...] = tuple(
            sorted(a.id for a in areas.values() if a.level == "unit")
        )
        self._locations: tuple[Location, ...] = tuple(self._location_of(u) for u in self.unit_ids)
        self._children: dict[str, list[str]] = {}
        for a in sorted(areas.values(), key=lambda a: a.id):
            if a.parent is not None:
                self._children.setdefault(a.parent, []).append(a.id)
        self._locator = PointLocator([self.geometries[u] for u in self.unit_ids])

    def _location_of(self, unit_id: str) -> Location:
        ids = [a.id for a in self.chain(unit_id)]
        ids += [""] * (4 - len(ids))
        return Location(unit_id=ids[0], grid_id=ids[1], village_id=ids[2], town_id=ids[3])

    def __len__(self) -> int:
        return len(self.areas)

    def area(self, area_id: str) -> Area:
        try:
            return self.areas[area_id]
        except KeyError as exc:
            raise UnknownAreaError(f"area id {area_id!r} is not in the hierarchy") from exc

    def chain(self, area_id: str) -> list[Area]:
        """That area first, then its parent, up to the town."""
        out = [self.area(area_id)]
        while out[-1].parent is not None and len(out) <= len(self.areas):
            out.append(self.area(out[-1].parent))
        return out

    def children(self, area_id: str) -> list[Area]:
        """Direct children, sorted by id."""
        return [self.areas[c] for c in self._children.get(area_id, [])]

    def units_under(self, area_id: str) -> list[str]:
        """Ids of every unit at or below an area, sorted."""
        self.area(area_id)
        return [u for u in self.unit_ids if any(a.id == area_id for a in self.chain(u))]

    def location_of_unit(self, unit_id: str) -> Location:
        i = int(np.searchsorted(self.unit_ids, unit_id))
        if i >= len(self.unit_ids) or self.unit_ids[i] != unit_id:
            raise UnknownAreaError(f"unit id {unit_id!r} is not in the hierarchy")
        return self._locations[i]

    def locate_index(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> IndexArray:
        """Per point, the index into :attr:`unit_ids` of its unit, or -1 when in none."""
        return self._locator.index(lons, lats)

    def locate_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> list[Location | None]:
        """Per point, its :class:`Location`, or None when in no unit (same order)."""
        locs = self._locations
        return [locs[i] if i >= 0 else None for i in self.locate_index(lons, lats).tolist()]

    def locate(self, lon: float, lat: float) -> Location | None:
        """The unit containing one point; on a shared edge the smaller unit id wins."""
        i = self._locator.index_one(float(lon), float(lat))
        return self._locations[i] if i >= 0 else None

    def geojson(self) -> dict[str, Any]:
        """A FeatureCollection of every area (ids, names, levels, parents, leader names)."""
        features = []
        for area_id in sorted(self.areas):
            a = self.areas[area_id]
            props: dict[str, Any] = {
                "id": a.id,
                "level": a.level,
                "name": a.name,
                "parent": a.parent,
            }
            if a.leader is not None:
                props["leader"] = {"name": a.leader.name, "person": a.leader.person_id}
            if a.liaison is not None:
                props["liaison"] = {"name": a.liaison.name, "person": a.liaison.person_id}
            features.append(
                {
                    "type": "Feature",
                    "id": a.id,
                    "properties": props,
                    "geometry": mapping(self.geometries[a.id]),
                }
            )
        return {"type": "FeatureCollection", "features": features}
