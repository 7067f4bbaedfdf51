"""A realistic synthetic town: nested Voronoi partitions, people, devices, departments.

Reproducible: the same :class:`SynthSpec` (seed included) gives the same files.
Units include MultiPolygons (two separate pieces merged into one unit), units
with an enclave unit inside them (a hole filled by another unit) and units with
an empty hole (a pond that belongs to no unit).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import yaml
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from gridwatch.domain import CATEGORIES, Category

DEMO_FRAME = (768, 576)  # vtest.avi
GRID_SIZE = 1e-7  # degrees (~1 cm): what the files hold; both sides of an edge share vertices


@dataclass(frozen=True)
class SynthSpec:
    """Size and place of a synthetic town. The defaults are Jiaowei's size at Putian."""

    seed: int = 1
    villages: int = 21
    grids: int = 156
    units: int = 579
    lon: float = 119.0
    lat: float = 25.45
    radius_km: float = 6.0
    vacant_leaders: int = 3
    cameras: int = 0  # 0: one per four units
    sensors: int = 0  # 0: one per six units
    demo_cameras: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.villages <= self.grids <= self.units:
            raise ValueError(
                f"need 1 <= villages <= grids <= units, got {self.villages}, {self.grids}, "
                f"{self.units}"
            )


@dataclass
class SynthTown:
    """The generated town as plain data, ready to write as the four config files."""

    features: list[dict[str, Any]] = field(default_factory=list)
    geometries: dict[str, BaseGeometry] = field(default_factory=dict)
    people: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    departments: list[dict[str, Any]] = field(default_factory=list)
    vacant_units: list[str] = field(default_factory=list)
    multipolygon_units: list[str] = field(default_factory=list)
    enclave_units: list[str] = field(default_factory=list)  # units inside another unit's hole
    pond_units: list[str] = field(default_factory=list)  # units with an empty hole
    ponds: list[BaseGeometry] = field(default_factory=list)

    def geojson(self, precision: int | None = 7) -> dict[str, Any]:
        """The hierarchy FeatureCollection; coordinates rounded to ``precision`` decimals."""
        feats = []
        for f in self.features:
            geo = mapping(self.geometries[f["properties"]["id"]])
            if precision is not None:
                geo = _round_coords(geo, precision)
            feats.append({"type": "Feature", "properties": f["properties"], "geometry": geo})
        return {"type": "FeatureCollection", "features": feats}


def _round_coords(geo: Any, precision: int) -> Any:
    if isinstance(geo, dict):
        return {k: _round_coords(v, precision) for k, v in geo.items()}
    if isinstance(geo, list | tuple):
        if geo and isinstance(geo[0], float | int):
            return [round(float(v), precision) for v in geo]
        return [_round_coords(v, precision) for v in geo]
    return geo


# --- geometry --------------------------------------------------------------------------------


def _polygons(geom: BaseGeometry) -> BaseGeometry:
    """Only the areal parts, as one Polygon or MultiPolygon."""
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > 0]
    if len(parts) == 1:
        return parts[0]
    flat: list[Polygon] = []
    for p in parts:
        flat.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
    return MultiPolygon(flat)


def _points_inside(poly: BaseGeometry, k: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = poly.bounds
    out: list[np.ndarray] = []
    have = 0
    while have < k:
        x = rng.uniform(minx, maxx, 4 * k + 16)
        y = rng.uniform(miny, maxy, 4 * k + 16)
        keep = shapely.contains_xy(poly, x, y)
        pts = np.column_stack([x[keep], y[keep]])
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:k]


def partition(poly: BaseGeometry, k: int, rng: np.random.Generator) -> list[BaseGeometry]:
    """Split a polygon into ``k`` non-overlapping pieces (Voronoi cells, relaxed twice)."""
    if k == 1:
        return [poly]
    seeds = _points_inside(poly, k, rng)
    cells: list[BaseGeometry] = []
    for it in range(3):
        vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=poly)
        raw = list(vor.geoms)
        cells = [_polygons(c.intersection(poly)) for c in raw]
        if it == 2 or len(cells) != k:
            break
        # Lloyd relaxation for rounder cells; keep a seed where the centroid falls outside.
        cent = np.array([[c.centroid.x, c.centroid.y] for c in cells])
        inside = shapely.contains_xy(poly, cent[:, 0], cent[:, 1])
        order = np.array(
            [int(np.argmin(((seeds - (c.centroid.x, c.centroid.y)) ** 2).sum(1))) for c in cells]
        )
        new = seeds.copy()
        new[order[inside]] = cent[inside]
        if len(np.unique(new.round(12), axis=0)) == k:
            seeds = new
    if len(cells) != k or any(c.is_empty for c in cells):
        raise RuntimeError(f"partition gave {len(cells)} cells, wanted {k}")
    return cells


def _split_counts(total: int, parts: int, rng: np.random.Generator) -> list[int]:
    p = rng.dirichlet(np.full(parts, 6.0))
    return [1 + int(n) for n in rng.multinomial(total - parts, p)]


def _blob(cx: float, cy: float, r: float, rng: np.random.Generator, n: int = 10) -> Polygon:
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    rad = r * rng.uniform(0.7, 1.0, n)
    return Polygon(np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]))


def _inner_blob(poly: BaseGeometry, rng: np.random.Generator, frac: float = 0.25) -> Polygon | None:
    """A small blob well inside a polygon, or None if it is too thin for one."""
    if not isinstance(poly, Polygon):
        return None
    r = math.sqrt(poly.area / math.pi) * frac
    centre = shapely.maximum_inscribed_circle(poly, r / 10)
    cx, cy = shapely.get_coordinates(centre)[0]
    blob = _blob(cx, cy, r, rng)
    return blob if poly.buffer(-r * 0.2).contains(blob) else None


def _units_of_grid(
    grid: BaseGeometry, k: int, rng: np.random.Generator, kind: str
) -> tuple[list[BaseGeometry], str, BaseGeometry | None]:
    """Unit shapes of one grid; ``kind`` asks for a multipolygon, enclave or pond if possible."""
    if kind == "multi" and k >= 2:
        cells = partition(grid, k + 1, rng)
        for i in range(len(cells)):
            for j in range(i + 1, len(cells)):
                if cells[i].distance(cells[j]) > 1e-5:
                    merged = MultiPolygon(
                        [*shapely.get_parts(cells[i]), *shapely.get_parts(cells[j])]
                    )
                    rest = [c for n, c in enumerate(cells) if n not in (i, j)]
                    return [merged, *rest], "multi", None
        return partition(grid, k, rng), "", None
    if kind == "enclave" and k >= 2:
        cells = partition(grid, k - 1, rng)
        big = max(range(len(cells)), key=lambda n: cells[n].area)
        blob = _inner_blob(cells[big], rng)
        if blob is not None:
            cells[big] = cells[big].difference(blob)
            return [*cells, blob], "enclave", None
        return partition(grid, k, rng), "", None
    cells = partition(grid, k, rng)
    if kind == "pond":
        big = max(range(len(cells)), key=lambda n: cells[n].area)
        blob = _inner_blob(cells[big], rng, 0.2)
        if blob is not None:
            cells[big] = cells[big].difference(blob)
            return cells, "pond", blob
    return cells, "", None


def _warp(xy: np.ndarray, terms: list[tuple[int, float, float, float, float]]) -> np.ndarray:
    """A smooth displacement field; each term moves x or y by ``amp * sin(k . p + phase)``."""
    out = xy.copy()
    for axis, amp, kx, ky, phase in terms:
        out[:, axis] += amp * np.sin(kx * xy[:, 0] + ky * xy[:, 1] + phase)
    return out


def _noded(geoms: list[BaseGeometry]) -> list[BaseGeometry]:
    """Insert every vertex lying on another shape's edge into that edge (T-junctions).

    A unit's edge along its grid's boundary ends where the neighbouring grid's
    units do not; without this, densifying and warping would pull the two sides
    of the boundary apart.
    """
    coords = np.unique(np.concatenate([shapely.get_coordinates(g) for g in geoms]), axis=0)
    points = shapely.points(coords)
    tree = shapely.STRtree(points)
    geom_idx, point_idx = tree.query(np.array(geoms), predicate="dwithin", distance=1e-9)
    out = []
    for i, g in enumerate(geoms):
        near = points[point_idx[geom_idx == i]]
        out.append(shapely.snap(g, shapely.multipoints(near), 1e-9) if len(near) else g)
    return out


def _wiggle(town: SynthTown, spec: SynthSpec, rng: np.random.Generator) -> None:
    """Make straight Voronoi edges look hand-drawn, keeping shared edges shared.

    Units are densified and moved by one smooth displacement field whose slope
    stays below 0.5, so no shape folds over; both sides of a shared edge get the
    same vertices. Grids, villages and the town are then rebuilt as unions of
    their children (ponds included), so every child lies exactly in its parent.
    """
    size = math.sqrt(town.geometries["T01"].area / max(spec.units, 1))
    terms = []
    for wavelength, slope in ((size * 0.6, 0.2), (size * 0.25, 0.08)):
        k = 2 * math.pi / wavelength
        amp = slope / k
        for axis in (0, 1):
            angle = rng.uniform(0, 2 * math.pi)
            terms.append(
                (axis, amp, k * math.cos(angle), k * math.sin(angle), rng.uniform(0, 2 * math.pi))
            )
    step = size / 12

    def moved(geom: BaseGeometry) -> BaseGeometry:
        dense = shapely.segmentize(geom, step)
        return shapely.set_precision(
            shapely.transform(dense, lambda xy: _warp(xy, terms)), GRID_SIZE
        )

    levels = {f["properties"]["id"]: f["properties"]["level"] for f in town.features}
    parents = {f["properties"]["id"]: f["properties"].get("parent") for f in town.features}
    units = sorted(a for a, lv in levels.items() if lv == "unit")
    noded = _noded([town.geometries[u] for u in units] + town.ponds)
    pieces: dict[str, list[BaseGeometry]] = {}
    for area_id, geom in zip(units, noded, strict=False):
        town.geometries[area_id] = moved(geom)
        pieces.setdefault(str(parents[area_id]), []).append(town.geometries[area_id])
    town.ponds = [moved(p) for p in noded[len(units) :]]
    for pond, unit in zip(town.ponds, town.pond_units, strict=True):
        pieces[str(parents[unit])].append(pond)
    for level in ("grid", "village", "town"):
        for area_id in sorted(a for a, lv in levels.items() if lv == level):
            merged = _polygons(shapely.union_all(pieces[area_id], grid_size=GRID_SIZE))
            # A parent is its children put together: any hole left is a rounding crumb.
            town.geometries[area_id] = _polygons(
                shapely.union_all([Polygon(p.exterior) for p in shapely.get_parts(merged)])
            )
            parent = parents[area_id]
            if parent is not None:
                pieces.setdefault(parent, []).append(town.geometries[area_id])


def _town_shape(spec: SynthSpec, rng: np.random.Generator) -> Polygon:
    n = 64
    ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
    # A smooth wobble: a few low harmonics with random phases.
    wob = sum(
        rng.uniform(0.03, 0.1) * np.cos(h * ang + rng.uniform(0, 2 * math.pi)) for h in (2, 3, 5)
    )
    r_deg = spec.radius_km / 111.32
    rx = r_deg / math.cos(math.radians(spec.lat))
    return Polygon(
        np.column_stack(
            [spec.lon + rx * (1 + wob) * np.cos(ang), spec.lat + r_deg * (1 + wob) * np.sin(ang)]
        )
    )


# --- names and people ------------------------------------------------------------------------

_V1 = "东西南北上下前后新大小中高"
_V2 = "沙岭洋头埔厝山港坑湖林田溪塘坂"
_SURNAMES = "林陈黄郑吴王李张刘许蔡方翁朱杨余"
_GIVEN = "志国建明华文伟强丽芳秀英金玉海清春平荣福德辉"

C = Category
DEPARTMENTS: tuple[tuple[str, str, str, tuple[Category, ...]], ...] = (
    (
        "police",
        "派出所",
        "Police station",
        (C.INTRUSION, C.LOITERING, C.CROWDING, C.LINE_CROSSING, C.ABANDONED_OBJECT),
    ),
    ("urban", "城管", "Urban management", (C.ILLEGAL_PARKING, C.SANITATION)),
    ("emergency", "应急", "Emergency management and fire", (C.FIRE_SMOKE, C.FLOOD)),
    ("governance", "综治中心", "Comprehensive governance centre", (C.DISPUTE, C.OTHER)),
    ("ops", "运维", "Operations and IT", (C.CAMERA_TAMPER, C.SENSOR_ALARM)),
)

SENSOR_TYPES: tuple[tuple[str, Category], ...] = (
    ("smoke", C.FIRE_SMOKE),
    ("water_level", C.FLOOD),
    ("door", C.SENSOR_ALARM),
)


class _People:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: list[dict[str, Any]] = []

    def name(self) -> str:
        given = "".join(self.rng.choice(list(_GIVEN), size=int(self.rng.integers(1, 3))))
        return str(self.rng.choice(list(_SURNAMES))) + given

    def phone(self) -> str:
        return (
            "1"
            + str(self.rng.choice(["39", "58", "77", "89"]))
            + f"{self.rng.integers(0, 10**8):08d}"
        )

    def add(
        self, roles: list[str], posts: list[dict[str, Any]], dept: str | None = None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": f"P{len(self.rows) + 1:05d}",
            "name": self.name(),
            "phone": self.phone(),
            "roles": roles,
            "posts": posts,
        }
        if dept is not None:
            row["department"] = dept
        self.rows.append(row)
        return row


def _contact(row: dict[str, Any]) -> dict[str, str]:
    return {"name": row["name"], "phone": row["phone"], "person": row["id"]}


# --- the town --------------------------------------------------------------------------------


def synth_town(spec: SynthSpec | None = None) -> SynthTown:
    """Generate a town; deterministic for a given spec."""
    spec = spec or SynthSpec()
    rng = np.random.default_rng(spec.seed)
    town = SynthTown()
    ppl = _People(rng)

    town_id = "T01"
    town_geom = _town_shape(spec, rng)
    _add_area(town, ppl, town_id, "town", "示例镇（合成）", None, town_geom)

    village_geoms = partition(town_geom, spec.villages, rng)
    grids_per_village = _split_counts(spec.grids, spec.villages, rng)
    units_per_grid = _split_counts(spec.units, spec.grids, rng)
    names = [a + b for a in _V1 for b in _V2]
    rng.shuffle(names)
    grid_no = 0
    # About 4% of grids each get a multipolygon unit, an enclave or a pond (at least 2 each).
    n_special = max(2, spec.grids // 25)
    special = rng.permutation(spec.grids)
    kinds: dict[int, str] = {}
    for n, g in enumerate(special[: 3 * n_special].tolist()):
        kinds[g] = ("multi", "enclave", "pond")[n % 3]
    for v, (vgeom, ngrids) in enumerate(zip(village_geoms, grids_per_village, strict=True)):
        vid = f"V{v + 1:02d}"
        vname = names[v % len(names)] + "村"
        _add_area(town, ppl, vid, "village", vname, town_id, vgeom)
        for g, ggeom in enumerate(partition(vgeom, ngrids, rng)):
            gid = f"{vid}-G{g + 1:02d}"
            gname = f"{vname}第{g + 1}网格"
            _add_area(town, ppl, gid, "grid", gname, vid, ggeom)
            cells, made, pond = _units_of_grid(
                ggeom, units_per_grid[grid_no], rng, kinds.get(grid_no, "")
            )
            grid_no += 1
            for u, ugeom in enumerate(cells):
                uid = f"{gid}-U{u + 1:02d}"
                _add_area(town, ppl, uid, "unit", f"{gname}第{u + 1}单元", gid, ugeom)
            if made == "multi":
                town.multipolygon_units.append(f"{gid}-U01")
            elif made == "enclave":
                town.enclave_units.append(f"{gid}-U{len(cells):02d}")
            elif made == "pond" and pond is not None:
                big = max(range(len(cells)), key=lambda n: cells[n].area)
                town.pond_units.append(f"{gid}-U{big + 1:02d}")
                town.ponds.append(pond)
    for f in town.features:
        if (
            f["properties"]["level"] == "unit"
            and isinstance(town.geometries[f["properties"]["id"]], MultiPolygon)
            and f["properties"]["id"] not in town.multipolygon_units
        ):
            town.multipolygon_units.append(f["properties"]["id"])

    _wiggle(town, spec, rng)
    _add_departments(town, ppl)
    units = [f["properties"]["id"] for f in town.features if f["properties"]["level"] == "unit"]
    demo_units = _add_devices(town, spec, rng, units, ppl)
    # Vacant unit-leader posts, never on a demo camera's unit so the demo always has a leader.
    candidates = [u for u in units if u not in demo_units]
    vacant = sorted(rng.choice(candidates, size=spec.vacant_leaders, replace=False).tolist())
    town.vacant_units = vacant
    vacant_people = set()
    for f in town.features:
        if f["properties"]["id"] in vacant:
            vacant_people.add(f["properties"]["leader"]["person"])
            del f["properties"]["leader"]
    ppl.rows = [p for p in ppl.rows if p["id"] not in vacant_people]
    town.people = ppl.rows
    return town


def _add_area(
    town: SynthTown,
    ppl: _People,
    area_id: str,
    level: str,
    name: str,
    parent: str | None,
    geom: BaseGeometry,
) -> None:
    props: dict[str, Any] = {"id": area_id, "level": level, "name": name}
    if parent is not None:
        props["parent"] = parent
    leader = ppl.add(["leader"], [{"kind": "leader", "area": area_id}])
    props["leader"] = _contact(leader)
    if level == "unit":
        liaison = ppl.add(["liaison"], [{"kind": "liaison", "area": area_id}])
        props["liaison"] = _contact(liaison)
    town.features.append({"type": "Feature", "properties": props})
    town.geometries[area_id] = geom


def _add_departments(town: SynthTown, ppl: _People) -> None:
    assert {c for d in DEPARTMENTS for c in d[3]} == set(CATEGORIES)
    grids = [f["properties"]["id"] for f in town.features if f["properties"]["level"] == "grid"]
    for n, (did, name, name_en, cats) in enumerate(DEPARTMENTS):
        head = ppl.add(["department_staff"], [{"kind": "department_staff", "department": did}], did)
        ppl.add(["department_staff"], [{"kind": "department_staff", "department": did}], did)
        town.departments.append(
            {
                "id": did,
                "name": name,
                "name_en": name_en,
                "categories": [c.value for c in cats],
                "contact": head["id"],
            }
        )
        # One cadre from each office is sent down to a grid.
        ppl.add(
            ["sent_down_cadre"],
            [{"kind": "sent_down_cadre", "area": grids[(7 * n) % len(grids)]}],
            did,
        )
    ppl.add(["duty_commander"], [{"kind": "duty_commander"}], "governance")
    ppl.add(["duty_commander"], [{"kind": "duty_commander"}], "governance")
    ppl.add(["admin"], [], "ops")


def _point_in(geom: BaseGeometry, rng: np.random.Generator) -> tuple[float, float]:
    core = geom.buffer(-2e-5)
    x, y = _points_inside(core if not core.is_empty else geom, 1, rng)[0]
    return round(float(x), 7), round(float(y), 7)


def _homography(geom: BaseGeometry, lon: float, lat: float) -> list[dict[str, Any]] | None:
    """Frame corners onto a small trapezoid in front of the camera, inside its unit."""
    w, h = DEMO_FRAME
    for size in (3e-4, 1.5e-4, 8e-5, 4e-5, 2e-5, 1e-5):
        far, near = size, size * 0.4
        quad = [
            ((0.0, 0.0), (lon - far, lat + 2 * size)),
            ((float(w), 0.0), (lon + far, lat + 2 * size)),
            ((float(w), float(h)), (lon + near, lat + 0.2 * size)),
            ((0.0, float(h)), (lon - near, lat + 0.2 * size)),
        ]
        if geom.contains(Polygon([p for _, p in quad])):
            return [
                {"px": [px, py], "lon": round(x, 7), "lat": round(y, 7)}
                for (px, py), (x, y) in quad
            ]
    return None


def _add_devices(
    town: SynthTown, spec: SynthSpec, rng: np.random.Generator, units: list[str], ppl: _People
) -> list[str]:
    ops = [p["id"] for p in ppl.rows if p.get("department") == "ops"]
    maintainer = ops[0] if ops else None
    w, h = DEMO_FRAME
    lower = [
        [0.0, round(h * 0.4, 1)],
        [float(w), round(h * 0.4, 1)],
        [float(w), float(h)],
        [0.0, float(h)],
    ]
    demo_units: list[str] = []
    order = [units[i] for i in rng.permutation(len(units))]
    for u in order:
        if len(demo_units) == spec.demo_cameras:
            break
        geom = town.geometries[u]
        if not isinstance(geom, Polygon) or any(
            u.split("-")[0] == d.split("-")[0] for d in demo_units
        ):
            continue
        lon, lat = _point_in(geom, rng)
        homography = _homography(geom, lon, lat)
        if homography is None:
            continue
        demo_units.append(u)
        town.devices.append(
            {
                "id": f"cam-demo-{len(demo_units)}",
                "kind": "camera",
                "name": f"演示摄像头{len(demo_units)} (vtest.avi)",
                "unit": u,
                "lon": lon,
                "lat": lat,
                "stream": "asset://vtest.avi",
                "detect_fps": 5.0,
                "maintainer": maintainer,
                "zones": [{"name": "lower", "polygon": lower}],
                "rules": [
                    {
                        "type": "intrusion",
                        "zone": "lower",
                        "classes": ["person"],
                        "category": Category.INTRUSION.value,
                    }
                ],
                "homography": homography,
            }
        )
    cameras = spec.cameras or max(1, len(units) // 4)
    for n, u in enumerate(sorted(rng.choice(units, size=cameras, replace=True).tolist())):
        lon, lat = _point_in(town.geometries[u], rng)
        ip = f"10.{(n // 250) % 250}.{n % 250}.{10 + n % 200}"
        town.devices.append(
            {
                "id": f"cam-{n + 1:04d}",
                "kind": "camera",
                "unit": u,
                "lon": lon,
                "lat": lat,
                "stream": f"rtsp://{ip}:554/Streaming/Channels/101",
                "substream": f"rtsp://{ip}:554/Streaming/Channels/102",
                "maintainer": maintainer,
                "rules": [
                    {
                        "type": "intrusion",
                        "classes": ["person"],
                        "schedule": {"start": "22:00", "end": "06:00"},
                    }
                ],
            }
        )
    sensors = spec.sensors or max(1, len(units) // 6)
    for n, u in enumerate(sorted(rng.choice(units, size=sensors, replace=True).tolist())):
        lon, lat = _point_in(town.geometries[u], rng)
        stype, cat = SENSOR_TYPES[n % len(SENSOR_TYPES)]
        town.devices.append(
            {
                "id": f"sen-{n + 1:04d}",
                "kind": "sensor",
                "unit": u,
                "lon": lon,
                "lat": lat,
                "sensor_type": stype,
                "category": cat.value,
                "maintainer": maintainer,
            }
        )
    return demo_units


class _Dumper(yaml.SafeDumper):
    """No anchors or aliases (people edit these files by hand); number pairs on one line."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = bool(data) and all(isinstance(v, int | float) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _dump_yaml(path: Path, header: str, data: dict[str, Any]) -> None:
    body = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(header + body, encoding="utf-8")


def write_config(town: SynthTown, out_dir: Path, spec: SynthSpec, precision: int = 7) -> None:
    """Write town.geojson, people.yaml, devices.yaml and departments.yaml into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fc = town.geojson(precision)
    lines = ",\n".join(
        json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in fc["features"]
    )
    (out_dir / "town.geojson").write_text(
        '{"type":"FeatureCollection","features":[\n' + lines + "\n]}\n", encoding="utf-8"
    )
    made = (
        f"# Generated by: gridwatch config synth --seed {spec.seed} --villages {spec.villages} "
        f"--grids {spec.grids} --units {spec.units}\n# A synthetic town: names, people and phone "
        "numbers are made up.\n"
    )
    _dump_yaml(
        out_dir / "people.yaml",
        made
        + "# Vacant unit-leader posts (no leader on purpose): "
        + ", ".join(town.vacant_units)
        + "\n",
        {"people": town.people},
    )
    _dump_yaml(
        out_dir / "devices.yaml",
        made + "# Demo cameras cam-demo-N replay asset://vtest.avi (768x576).\n",
        {"devices": [{k: v for k, v in d.items() if v is not None} for d in town.devices]},
    )
    _dump_yaml(out_dir / "departments.yaml", made, {"departments": town.departments})
