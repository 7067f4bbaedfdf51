"""Point location speed on a town of Zhongmen's size (1,114 units).

    python bench/locate.py [--points 100000] [--repeat 5] [--seed 2]

Prints one JSON line. ``points_per_s`` is ``Hierarchy.locate_many`` (one bulk
STRtree query, exact test on prepared shapes, tie-break to the smaller id, and
a Location per point); ``index_points_per_s`` is the index-array variant
``Hierarchy.locate_index``; ``tree_bulk_points_per_s`` is the bulk STRtree
path alone (what the grid path replaces for large batches);
``first_bulk_call_s`` includes building the grid. Baselines measured in the same run on the same
points: ``baseline_per_point_shapely`` (one STRtree query and exact test per
point, the usual one-at-a-time service code) and ``baseline_scan_polygons``
(every unit tested per point, no index), each on a subset and scaled to
points/s. Their results are checked to agree with the bulk path.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._boxref import box_ref

#: From shared/notes/performance.md (shapely 2, 1,024 polygons of 41 vertices, this box).
REFERENCE = {"shapely_strtree_bulk_points_per_s": [660_000, 690_000], "one_point_us": 12}


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()

    import shapely

    from gridwatch.town import load_hierarchy
    from gridwatch.town.synth import SynthSpec, synth_town, write_config

    spec = SynthSpec(seed=args.seed, villages=12, grids=61, units=1114)
    with tempfile.TemporaryDirectory(prefix="gw-bench-locate-") as tmp:
        write_config(synth_town(spec), Path(tmp), spec)
        t = time.perf_counter()
        h = load_hierarchy(Path(tmp) / "town.geojson")
        load_s = time.perf_counter() - t

    rng = np.random.default_rng(args.seed)
    minx, miny, maxx, maxy = h.geometries[h.town_id].bounds
    lons = rng.uniform(minx, maxx, args.points)
    lats = rng.uniform(miny, maxy, args.points)

    t = time.perf_counter()
    h.locate_index(lons[:1], lats[:1])  # tree path: builds nothing
    first = h.locate_index(lons, lats)  # first bulk call builds the grid
    first_s = time.perf_counter() - t
    bulk_s, locs = _best(lambda: h.locate_many(lons, lats), args.repeat)
    index_s, idx = _best(lambda: h.locate_index(lons, lats), args.repeat)
    one_n = min(args.points, 5_000)
    one_s, _ = _best(lambda: [h.locate(lons[i], lats[i]) for i in range(one_n)], 1)

    from gridwatch.town.locate import PointLocator

    tree_only = PointLocator([h.geometries[u] for u in h.unit_ids], grid_min_points=10**12)
    tree_s, tree_idx = _best(lambda: tree_only.index(lons, lats), args.repeat)
    assert (tree_idx == idx).all() and (first == idx).all(), "bulk paths disagree"

    # Baseline 1: per point, one tree query and an exact test (the usual service loop).
    ids = h.unit_ids
    geoms = [h.geometries[u] for u in ids]
    tree = shapely.STRtree(geoms)
    n1 = min(args.points, 20_000)

    def per_point() -> list[int]:
        out = []
        for x, y in zip(lons[:n1].tolist(), lats[:n1].tolist(), strict=True):
            hits = tree.query(shapely.Point(x, y), predicate="intersects")
            out.append(int(hits.min()) if hits.size else -1)
        return out

    pp_s, pp = _best(per_point, 1)
    # Baseline 2: scan every polygon for each point.
    n2 = min(args.points, 300)

    def scan() -> list[int]:
        out = []
        for x, y in zip(lons[:n2].tolist(), lats[:n2].tolist(), strict=True):
            p = shapely.Point(x, y)
            out.append(next((i for i, g in enumerate(geoms) if g.intersects(p)), -1))
        return out

    scan_s, sc = _best(scan, 1)
    assert pp == idx[:n1].tolist(), "per-point baseline disagrees with the bulk locator"
    assert sc == idx[:n2].tolist(), "scan baseline disagrees with the bulk locator"

    vertices = shapely.get_num_coordinates(np.array(geoms))
    result = {
        "bench": "locate",
        "box_ref": box_ref(),
        "units": len(ids),
        "vertices_per_unit_mean": round(float(vertices.mean()), 1),
        "points": args.points,
        "in_a_unit": sum(loc is not None for loc in locs),
        "points_per_s": round(args.points / bulk_s),
        "index_points_per_s": round(args.points / index_s),
        "first_bulk_call_s": round(first_s, 3),
        "tree_bulk_points_per_s": round(args.points / tree_s),
        "one_point_us": round(one_s / one_n * 1e6, 1),
        "baseline_per_point_shapely_points_per_s": round(n1 / pp_s),
        "baseline_scan_polygons_points_per_s": round(n2 / scan_s),
        "speedup_vs_per_point": round(pp_s / n1 / (bulk_s / args.points), 1),
        "load_hierarchy_s": round(load_s, 3),
        "reference": REFERENCE,
        "python": platform.python_version(),
        "shapely": shapely.__version__,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
