"""Pure checks of a town's config: each returns every :class:`Problem` it finds.

Nothing here reads files; :mod:`gridwatch.town.load` parses and calls these.

Geometry tolerance (``TOLERANCE`` = 1e-6 degrees, about 0.1 m):
- a child may stick out of its parent by up to the tolerance (the parent is
  buffered by it before ``covers``);
- two siblings overlap only if they still intersect after both are shrunk by
  the tolerance (a negative buffer), so shared edges and rounding slivers
  narrower than 2e-6 degrees pass while any real overlap is caught.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import shapely
from pydantic import BaseModel, ValidationError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from gridwatch.configfile import Problem, short, validation_problems
from gridwatch.domain import LEVELS, PARENT_LEVEL
from gridwatch.town.hierarchy import derived_person_id
from gridwatch.town.models import (
    ID_PATTERN,
    ContactSpec,
    Department,
    Device,
    Person,
)

TOLERANCE = 1e-6
M_PER_DEG = 111_320.0

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class FeatureSpec:
    """One hierarchy feature as read, before it becomes an :class:`Area`."""

    index: int
    id: str
    level: str
    name: str
    parent: str | None
    leader: ContactSpec | None
    liaison: ContactSpec | None
    geometry: BaseGeometry | None  # None when missing or invalid

    @property
    def where(self) -> str:
        return f"feature {self.id!r}"


def _fmt_pt(x: float, y: float) -> str:
    return f"({x:.7f}, {y:.7f})"


# --- hierarchy ---------------------------------------------------------------------------


def check_features(
    data: Any, file: str, tolerance: float = TOLERANCE
) -> tuple[list[Problem], list[FeatureSpec]]:
    """Check a parsed GeoJSON hierarchy; returns problems and the features that could be read."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        return [Problem(file, "(top level)", short(kind), "not a GeoJSON FeatureCollection")], []
    raw = data.get("features")
    if not isinstance(raw, list):
        return [Problem(file, "features", short(raw), "features must be a list")], []
    problems: list[Problem] = []
    specs: list[FeatureSpec] = []
    for i, feat in enumerate(raw):
        spec = _read_feature(i, feat, file, problems)
        if spec is not None:
            specs.append(spec)
    problems += _check_ids_and_parents(specs, file)
    problems += _check_geometry(specs, file, tolerance)
    return problems, specs


def _read_feature(i: int, feat: Any, file: str, problems: list[Problem]) -> FeatureSpec | None:
    where = f"features[{i}]"
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        problems.append(Problem(file, where, short(feat), "not a GeoJSON Feature"))
        return None
    props = feat.get("properties")
    if not isinstance(props, dict):
        problems.append(Problem(file, where, short(props), "properties must be an object"))
        return None
    fid = props.get("id")
    if not isinstance(fid, str) or not re.fullmatch(ID_PATTERN, fid):
        what = (
            "feature without an id"
            if fid in (None, "")
            else "id must be a string of 1 to 64 characters without spaces or commas"
        )
        if fid in (None, "") and "id" in feat:
            what += " (put it in properties.id; the Feature's own 'id' member is not used)"
        value = fid if fid not in (None, "") else f"name={props.get('name')!r}"
        problems.append(Problem(file, f"{where}.properties.id", short(value), what))
        return None
    where = f"feature {fid!r}"
    known = {"id", "level", "parent", "name", "leader", "liaison"}
    for key in sorted(set(props) - known):
        problems.append(Problem(file, f"{where}.properties.{key}", short(key), "unknown property"))
    level = props.get("level")
    if level not in LEVELS:
        problems.append(
            Problem(file, f"{where}.level", short(level), f"unknown level; use one of {LEVELS}")
        )
        level = "?"
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(file, f"{where}.name", short(name), "name must be a string"))
        name = fid
    parent = props.get("parent")
    if parent is not None and not isinstance(parent, str):
        problems.append(Problem(file, f"{where}.parent", short(parent), "parent must be an id"))
        parent = None
    contacts: dict[str, ContactSpec | None] = {}
    for key in ("leader", "liaison"):
        contacts[key] = None
        if props.get(key) is None:
            continue
        if key == "liaison" and level != "unit":
            problems.append(
                Problem(file, f"{where}.liaison", short(props[key]), "only units have a liaison")
            )
            continue
        try:
            contacts[key] = ContactSpec.model_validate(props[key])
        except ValidationError as exc:
            problems += validation_problems(exc, file, f"{where}.{key}", props[key])
    geometry = _read_geometry(feat.get("geometry"), file, where, problems)
    return FeatureSpec(
        i, fid, level, name, parent, contacts["leader"], contacts["liaison"], geometry
    )


def _read_geometry(geo: Any, file: str, where: str, problems: list[Problem]) -> BaseGeometry | None:
    if not isinstance(geo, dict) or geo.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geo.get("type") if isinstance(geo, dict) else geo
        problems.append(
            Problem(file, f"{where}.geometry", short(kind), "must be a Polygon or MultiPolygon")
        )
        return None
    try:
        geom = shape(geo)
    except Exception as exc:  # shapely raises many types for malformed coordinates
        problems.append(
            Problem(file, f"{where}.geometry", short(geo.get("coordinates")), f"unreadable: {exc}")
        )
        return None
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or not np.isfinite(coords).all():
        problems.append(Problem(file, f"{where}.geometry", "empty or non-finite", "no usable area"))
        return None
    lon_ok = (coords[:, 0] >= -180) & (coords[:, 0] <= 180)
    lat_ok = (coords[:, 1] >= -90) & (coords[:, 1] <= 90)
    if not (lon_ok & lat_ok).all():
        bad = coords[~(lon_ok & lat_ok)][0]
        problems.append(
            Problem(file, f"{where}.geometry", _fmt_pt(*bad), "not WGS-84 lon/lat degrees")
        )
        return None
    if not geom.is_valid:
        problems.append(
            Problem(file, f"{where}.geometry", shapely.is_valid_reason(geom), "invalid geometry")
        )
        return None
    return geom


def _check_ids_and_parents(specs: Sequence[FeatureSpec], file: str) -> list[Problem]:
    problems: list[Problem] = []
    counts = Counter(s.id for s in specs)
    first: dict[str, FeatureSpec] = {}
    for s in specs:
        if s.id in first:
            problems.append(
                Problem(
                    file,
                    f"features[{s.index}].properties.id",
                    s.id,
                    f"duplicate id (also features[{first[s.id].index}]; used {counts[s.id]} times)",
                )
            )
        else:
            first[s.id] = s
    towns = [s for s in first.values() if s.level == "town"]
    if len(towns) != 1:
        problems.append(
            Problem(
                file,
                "features",
                ", ".join(t.id for t in towns) or "(none)",
                f"need exactly one feature with level 'town', found {len(towns)}",
            )
        )
    for s in first.values():
        want = PARENT_LEVEL.get(s.level)
        if s.level == "?":
            continue
        if want is None:
            if s.parent is not None:
                problems.append(
                    Problem(file, f"{s.where}.parent", s.parent, "a town has no parent")
                )
            continue
        if s.parent is None:
            problems.append(
                Problem(file, f"{s.where}.parent", "(none)", f"a {s.level} needs a parent {want}")
            )
        elif s.parent not in first:
            problems.append(
                Problem(file, f"{s.where}.parent", s.parent, "parent id is not in the file")
            )
        elif first[s.parent].level != want:
            problems.append(
                Problem(
                    file,
                    f"{s.where}.parent",
                    f"{s.parent} (level {first[s.parent].level})",
                    f"parent of a {s.level} must be a {want}",
                )
            )
    return problems


def _check_geometry(specs: Sequence[FeatureSpec], file: str, tol: float) -> list[Problem]:
    problems: list[Problem] = []
    by_id: dict[str, FeatureSpec] = {}
    for s in specs:
        by_id.setdefault(s.id, s)
    good = [s for s in by_id.values() if s.geometry is not None]
    # Children inside their parents, vectorised over all pairs at once.
    pairs = [
        (s, by_id[s.parent])
        for s in good
        if s.parent in by_id and by_id[s.parent].geometry is not None
    ]
    if pairs:
        parent_ids = sorted({p.id for _, p in pairs})
        grown = dict(
            zip(
                parent_ids,
                shapely.buffer(np.array([by_id[p].geometry for p in parent_ids]), tol),
                strict=True,
            )
        )
        inside = shapely.covers(
            np.array([grown[p.id] for _, p in pairs]), np.array([c.geometry for c, _ in pairs])
        )
        for (child, parent), ok in zip(pairs, inside, strict=True):
            if not ok:
                problems.append(_outside_problem(file, child, parent))
    # Overlapping siblings: shrink everything by the tolerance, then one bulk tree query.
    geoms = np.array([s.geometry for s in good])
    if len(good) > 1:
        shrunk = shapely.buffer(geoms, -tol)
        tree = shapely.STRtree(shrunk)
        left, right = tree.query(shrunk, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            a, b = good[i], good[j]
            if i < j and a.parent == b.parent and a.level == b.level:
                problems.append(_overlap_problem(file, a, b))
    return problems


def _outside_problem(file: str, child: FeatureSpec, parent: FeatureSpec) -> Problem:
    assert child.geometry is not None and parent.geometry is not None
    coords = shapely.get_coordinates(child.geometry)
    dist = shapely.distance(parent.geometry, shapely.points(coords))
    k = int(np.argmax(dist))
    return Problem(
        file,
        f"{child.where}.geometry",
        f"{_fmt_pt(*coords[k])} is {dist[k]:.2e} deg (~{dist[k] * M_PER_DEG:.1f} m) outside",
        f"sticks out of its parent {parent.id!r} beyond the tolerance",
    )


def _overlap_problem(file: str, a: FeatureSpec, b: FeatureSpec) -> Problem:
    assert a.geometry is not None and b.geometry is not None
    common = a.geometry.intersection(b.geometry)
    pt = common.representative_point() if not common.is_empty else a.geometry.centroid
    lat = math.radians(pt.y)
    m2 = common.area * M_PER_DEG * M_PER_DEG * math.cos(lat)
    return Problem(
        file,
        f"{a.where}.geometry",
        f"{b.id} (about {m2:.1f} m2 near {_fmt_pt(pt.x, pt.y)})",
        "overlaps a sibling beyond the tolerance",
    )


# --- YAML lists ----------------------------------------------------------------------------


def check_items(
    data: Any, file: str, key: str, model: type[M]
) -> tuple[list[Problem], list[tuple[int, M]]]:
    """Validate ``{key: [item, ...]}`` item by item, so one bad item hides no other problem."""
    if data is None:
        data = {key: []}
    if not isinstance(data, dict) or set(data) != {key}:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        return [
            Problem(file, "(top level)", short(found), f"must be a mapping with one key {key!r}")
        ], []
    items = data[key]
    if items is None:
        items = []
    if not isinstance(items, list):
        return [Problem(file, key, short(items), "must be a list")], []
    problems: list[Problem] = []
    good: list[tuple[int, M]] = []
    for i, item in enumerate(items):
        try:
            good.append((i, model.model_validate(item)))
        except ValidationError as exc:
            problems += validation_problems(exc, file, f"{key}[{i}]", item)
    counts = Counter(getattr(m, "id", None) for _, m in good)
    seen: set[str] = set()
    for i, m in good:
        mid = getattr(m, "id", None)
        if mid is not None and counts[mid] > 1:
            if mid in seen:
                problems.append(Problem(file, f"{key}[{i}].id", mid, "duplicate id"))
            seen.add(mid)
    return problems, good


# --- cross references ----------------------------------------------------------------------


@dataclass(frozen=True)
class Files:
    """Names of the four files, for problem lines."""

    hierarchy: str = "town.geojson"
    people: str = "people.yaml"
    devices: str = "devices.yaml"
    departments: str = "departments.yaml"


@dataclass(frozen=True)
class Known:
    """Ids each defining file declares, including items that failed their own checks.

    None means the file could not be read at all: references into it are not
    checked, so one unreadable file gives one problem, not hundreds.
    """

    people: frozenset[str] | None = None
    departments: frozenset[str] | None = None
    hierarchy_read: bool = True


class _Ids:
    def __init__(self, ids: frozenset[str] | None) -> None:
        self._ids = ids

    def unknown(self, value: str) -> bool:
        return self._ids is not None and value not in self._ids


def check_references(
    features: Sequence[FeatureSpec],
    people: Sequence[tuple[int, Person]],
    departments: Sequence[tuple[int, Department]],
    devices: Sequence[tuple[int, Device]],
    files: Files,
    tolerance: float = TOLERANCE,
    known: Known | None = None,
) -> list[Problem]:
    """Every id one file uses must exist in the file that defines it."""
    known = known or Known(
        people=frozenset(p.id for _, p in people),
        departments=frozenset(d.id for _, d in departments),
    )
    problems: list[Problem] = []
    areas: dict[str, FeatureSpec] = {}
    for f in features:
        areas.setdefault(f.id, f)
    person_ids = _Ids(known.people)
    dept_ids = _Ids(known.departments)
    area_checks = known.hierarchy_read

    # Who holds each leader and liaison post according to the GeoJSON (given or derived ids).
    holder: dict[tuple[str, str], str] = {}
    for f in areas.values():
        for key, contact in (("leader", f.leader), ("liaison", f.liaison)):
            if contact is None:
                continue
            if contact.person is not None and person_ids.unknown(contact.person):
                problems.append(
                    Problem(
                        files.hierarchy,
                        f"{f.where}.{key}.person",
                        contact.person,
                        "unknown person (not in people.yaml)",
                    )
                )
            holder[(key, f.id)] = contact.person or derived_person_id(
                f.id, contact.name, contact.phone
            )

    for i, p in people:
        if p.department is not None and dept_ids.unknown(p.department):
            problems.append(
                Problem(files.people, f"people[{i}].department", p.department, "unknown department")
            )
        for j, post in enumerate(p.posts):
            where = f"people[{i}].posts[{j}]"
            if post.area is not None and area_checks:
                problem = _post_problem(p, post.kind, post.area, areas, holder)
                if problem is not None:
                    problems.append(Problem(files.people, f"{where}.area", post.area, problem))
            if post.department is not None and dept_ids.unknown(post.department):
                problems.append(
                    Problem(
                        files.people, f"{where}.department", post.department, "unknown department"
                    )
                )

    owner: dict[str, str] = {}
    for i, d in departments:
        if person_ids.unknown(d.contact):
            problems.append(
                Problem(files.departments, f"departments[{i}].contact", d.contact, "unknown person")
            )
        for j, cat in enumerate(d.categories):
            where = f"departments[{i}].categories[{j}]"
            if cat in owner:
                problems.append(
                    Problem(
                        files.departments,
                        where,
                        cat,
                        f"category already owned by department {owner[cat]!r}",
                    )
                )
            else:
                owner[cat] = d.id

    problems += _check_devices(devices, areas, area_checks, person_ids, files.devices, tolerance)
    return problems


def _post_problem(
    person: Person,
    kind: str,
    area_id: str,
    areas: Mapping[str, FeatureSpec],
    holder: Mapping[tuple[str, str], str],
) -> str | None:
    """Why a people.yaml post on an area disagrees with the hierarchy, or None."""
    area = areas.get(area_id)
    if area is None:
        return "unknown area"
    if kind == "liaison" and area.level != "unit":
        return f"liaison of a {area.level}; only units have liaisons"
    if kind not in ("leader", "liaison"):
        return None
    # The GeoJSON is the one record of who holds a post; people.yaml must agree with it.
    named = holder.get((kind, area_id))
    if named is None:
        return (
            f"{person.id} is {kind} here, but the hierarchy names no {kind} for this area "
            f'(add "{kind}": {{"name", "phone", "person": "{person.id}"}} to it)'
        )
    if named != person.id:
        return f"{person.id} is {kind} here, but the hierarchy names {named} as {kind}"
    return None


def _check_devices(
    devices: Sequence[tuple[int, Device]],
    areas: Mapping[str, FeatureSpec],
    area_checks: bool,
    person_ids: _Ids,
    file: str,
    tol: float,
) -> list[Problem]:
    problems: list[Problem] = []
    for i, d in devices:
        where = f"devices[{i}]"
        unit = areas.get(d.unit)
        if not area_checks:
            pass
        elif unit is None or unit.level != "unit":
            why = "unknown unit" if unit is None else f"is a {unit.level}, not a unit"
            problems.append(Problem(file, f"{where}.unit", d.unit, why))
        elif (
            unit.geometry is not None and unit.geometry.distance(shapely.Point(d.lon, d.lat)) > tol
        ):
            problems.append(
                Problem(
                    file,
                    f"{where}.lon/lat",
                    _fmt_pt(d.lon, d.lat),
                    f"device {d.id!r} is outside its unit {d.unit!r}",
                )
            )
        if d.maintainer is not None and person_ids.unknown(d.maintainer):
            problems.append(Problem(file, f"{where}.maintainer", d.maintainer, "unknown person"))
    return problems
