"""`locate` against an independent brute-force ray-casting implementation, and edge rules."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import shapely

from gridwatch.cli import main
from gridwatch.town import load_hierarchy
from gridwatch.town.locate import PointLocator
from tests.town.conftest import BuiltTown

Floats = npt.NDArray[np.float64]

# --- the independent implementation: plain even-odd ray casting over the file's coordinates ---


def _ray_cast(ring: Floats, x: Floats, y: Floats) -> npt.NDArray[np.bool_]:
    """Even-odd rule: does a ray going +x from each point cross this ring an odd number of times?"""
    inside = np.zeros(x.shape, dtype=bool)
    x1, y1 = ring[:-1, 0], ring[:-1, 1]
    x2, y2 = ring[1:, 0], ring[1:, 1]
    for ax, ay, bx, by in zip(x1, y1, x2, y2, strict=True):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = ax + (y - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (x < x_at)
    return inside


def _brute_force(features: list[dict[str, Any]], x: Floats, y: Floats) -> list[str]:
    """Unit id per point (smallest id on ties), '' when none, from raw GeoJSON coordinates."""
    best = np.full(x.shape, "", dtype=object)
    units = sorted(
        (f for f in features if f["properties"]["level"] == "unit"),
        key=lambda f: f["properties"]["id"],
        reverse=True,  # later (smaller) ids overwrite, so the smallest id wins ties
    )
    for f in units:
        geo = f["geometry"]
        polys = [geo["coordinates"]] if geo["type"] == "Polygon" else geo["coordinates"]
        hit = np.zeros(x.shape, dtype=bool)
        for poly in polys:
            rings = [np.asarray(r, dtype=np.float64) for r in poly]
            inside = np.zeros(x.shape, dtype=bool)
            for ring in rings:  # exterior and holes alike: parity over all rings
                inside ^= _ray_cast(ring, x, y)
            hit |= inside
        best[hit] = f["properties"]["id"]
    return [str(b) for b in best]


# --- the points --------------------------------------------------------------------------------


def _sample_in(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> Floats:
    minx, miny, maxx, maxy = shapely.bounds(geom)
    out = np.empty((0, 2))
    while len(out) < n:
        x = rng.uniform(minx, maxx, 20 * n)
        y = rng.uniform(miny, maxy, 20 * n)
        keep = shapely.contains_xy(geom, x, y)
        out = np.vstack([out, np.column_stack([x[keep], y[keep]])])
    return out[:n]


@pytest.mark.slow
def test_locate_agrees_with_ray_casting_on_a_zhongmen_sized_town(big_town: BuiltTown) -> None:
    rng = np.random.default_rng(20)
    town = big_town.town
    features = json.loads((big_town.path / "town.geojson").read_text(encoding="utf-8"))["features"]
    hierarchy = load_hierarchy(big_town.path / "town.geojson")
    assert len(hierarchy.unit_ids) == 1114

    minx, miny, maxx, maxy = shapely.bounds(town.geometries["T01"])
    pad = 0.1 * (maxx - minx)
    groups: dict[str, Floats] = {
        "anywhere": np.column_stack(
            [rng.uniform(minx - pad, maxx + pad, 7000), rng.uniform(miny - pad, maxy + pad, 7000)]
        ),
        "pond": np.vstack([_sample_in(p, 150, rng) for p in town.ponds]),
        "enclave": np.vstack(
            [_sample_in(town.geometries[u], 150, rng) for u in town.enclave_units]
        ),
        "multipolygon": np.vstack(
            [
                _sample_in(part, 100, rng)
                for u in town.multipolygon_units
                for part in shapely.get_parts(town.geometries[u])
            ]
        ),
    }
    pts = np.vstack(list(groups.values()))
    pts = np.vstack([pts, groups["anywhere"][: 10_000 - len(pts)] + 1e-4])[:10_000]
    assert len(pts) == 10_000
    x, y = pts[:, 0], pts[:, 1]

    expected = _brute_force(features, x, y)
    got = [loc.unit_id if loc else "" for loc in hierarchy.locate_many(x, y)]
    mismatches = [(i, expected[i], got[i]) for i in range(len(got)) if expected[i] != got[i]]
    assert not mismatches, mismatches[:10]
    # The one-point path agrees with the bulk path.
    one = [hierarchy.locate(float(x[i]), float(y[i])) for i in range(0, 10_000, 7)]
    assert [loc.unit_id if loc else "" for loc in one] == got[::7]

    # Each kind of place was really hit.
    start = 0
    hit: dict[str, list[str]] = {}
    for name, group in groups.items():
        hit[name] = got[start : start + len(group)]
        start += len(group)
    assert "" in hit["anywhere"], "no point fell outside the town"
    assert sum(u != "" for u in hit["anywhere"]) > 1000
    assert hit["pond"] and all(u == "" for u in hit["pond"]), "pond points must be in no unit"
    assert hit["enclave"] == [u for u in town.enclave_units for _ in range(150)]
    # Every piece of every multipolygon unit is found (100 points per piece, in order).
    pieces = [u for u in town.multipolygon_units for _ in shapely.get_parts(town.geometries[u])]
    assert len(pieces) > len(town.multipolygon_units)
    assert hit["multipolygon"] == [u for u in pieces for _ in range(100)]


# --- a hand-made town for the exact rules -------------------------------------------------------


def _square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def _feature(
    fid: str, level: str, parent: str | None, rings: list[Any], multi: bool = False
) -> dict[str, Any]:
    props: dict[str, Any] = {"id": fid, "level": level, "name": fid}
    if parent:
        props["parent"] = parent
    geo = {"type": "MultiPolygon" if multi else "Polygon", "coordinates": rings}
    return {"type": "Feature", "properties": props, "geometry": geo}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """Units 'b' (left, with a hole) and 'a' (right) share the edge x=1; 'c' is two squares."""
    feats = [
        _feature("t", "town", None, [_square(0, 0, 4, 2)]),
        _feature("v", "village", "t", [_square(0, 0, 4, 2)]),
        _feature("g", "grid", "v", [_square(0, 0, 4, 2)]),
        _feature("b", "unit", "g", [_square(0, 0, 1, 1), _square(0.4, 0.4, 0.6, 0.6)[::-1]]),
        _feature("a", "unit", "g", [_square(1, 0, 2, 1)]),
        _feature("c", "unit", "g", [[_square(3, 0, 4, 1)], [_square(0, 1.5, 1, 2)]], multi=True),
    ]
    path = tmp_path / "tiny.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


@pytest.mark.parametrize(
    ("lon", "lat", "unit"),
    [
        (0.2, 0.2, "b"),
        (1.0, 0.5, "a"),  # on the shared edge: the smaller id wins
        (1.0, 1.0, "a"),  # on the shared corner
        (0.0, 0.5, "b"),  # on an outer edge: boundary counts as inside
        (0.5, 0.5, None),  # in the hole
        (0.4, 0.5, "b"),  # on the hole's edge
        (1.5, 0.5, "a"),
        (3.5, 0.5, "c"),
        (0.5, 1.75, "c"),  # the other piece of the multipolygon
        (2.5, 0.5, None),  # in the grid, in no unit
        (9.0, 9.0, None),
        (float("nan"), 0.5, None),
    ],
)
def test_exact_rules(tiny: Path, lon: float, lat: float, unit: str | None) -> None:
    h = load_hierarchy(tiny)
    loc = h.locate(lon, lat)
    assert (loc.unit_id if loc else None) == unit
    if loc is not None:
        assert (loc.grid_id, loc.village_id, loc.town_id) == ("g", "v", "t")
    # Both bulk paths (grid cells and tree query) give the same answer as the one-point path.
    geoms = [h.geometries[u] for u in h.unit_ids]
    for threshold in (1, 10**9):
        [i] = PointLocator(geoms, grid_min_points=threshold).index([lon], [lat]).tolist()
        assert (h.unit_ids[i] if i >= 0 else None) == unit


@pytest.mark.slow
def test_grid_and_tree_paths_agree_on_vertices_and_edges(big_town: BuiltTown) -> None:
    """Points exactly on shared vertices and edges, where the tie-break decides."""
    h = load_hierarchy(big_town.path / "town.geojson")
    geoms = [h.geometries[u] for u in h.unit_ids]
    vertices = np.unique(shapely.get_coordinates(geoms), axis=0)
    rings = shapely.get_rings(shapely.get_parts(geoms))
    mids = np.vstack([(c[:-1] + c[1:]) / 2 for c in map(shapely.get_coordinates, rings)])
    pts = np.vstack([vertices, mids])
    grid = PointLocator(geoms, grid_min_points=1).index(pts[:, 0], pts[:, 1])
    tree = PointLocator(geoms, grid_min_points=10**9).index(pts[:, 0], pts[:, 1])
    assert (grid == tree).all()
    # Shared vertices really are in several units, and the smallest index won.
    hits = shapely.STRtree(geoms).query(shapely.points(vertices), predicate="intersects")
    multi = np.bincount(hits[0], minlength=len(vertices)) > 1
    assert multi.sum() > 1000
    lowest = np.full(len(vertices), len(geoms))
    np.minimum.at(lowest, hits[0], hits[1])
    assert (grid[: len(vertices)][multi] == lowest[multi]).all()


def test_cli_keeps_order_and_leaves_misses_empty(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("1.5,0.5\n9,9\n0.5,0.5\n 1.0 , 0.5\n0.5,1.75\n"))
    assert main(["locate", "--hierarchy", str(tiny)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "a,g,v,t",
        ",,,",
        ",,,",
        "a,g,v,t",
        "c,g,v,t",
    ]


def test_cli_names_a_bad_input_line(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("1.5,0.5\nhello\n"))
    assert main(["locate", "--hierarchy", str(tiny)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "hello" in err


def test_chain_and_index_variant(tiny: Path) -> None:
    h = load_hierarchy(tiny)
    assert [a.id for a in h.chain("b")] == ["b", "g", "v", "t"]
    idx = h.locate_index(np.array([0.2, 1.5, 9.0]), np.array([0.2, 0.5, 9.0]))
    assert [h.unit_ids[i] if i >= 0 else None for i in idx] == ["b", "a", None]
    gj = h.geojson()
    assert {f["properties"]["id"] for f in gj["features"]} == {"t", "v", "g", "a", "b", "c"}
