"""`gridwatch locate --hierarchy FILE`: ``lon,lat`` lines in, ``unit,grid,village,town`` out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gridwatch.commands import Subparsers

CHUNK = 65536  # lines per bulk query: bounded memory, still fully vectorised


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "locate",
        help="find the unit of each lon,lat line on stdin (定位单元)",
        description="Reads lon,lat (WGS-84) lines on stdin; writes unit_id,grid_id,village_id,"
        "town_id lines in the same order, empty fields for points in no unit. A point on an "
        "edge shared by two units goes to the unit with the smaller id (string order).",
    )
    p.add_argument("--hierarchy", type=Path, required=True, help="hierarchy GeoJSON file")
    p.set_defaults(handler=_locate)


def _locate(args: argparse.Namespace) -> int:
    import numpy as np

    from gridwatch.town import TownConfigError, load_hierarchy

    try:
        hierarchy = load_hierarchy(args.hierarchy)
    except TownConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    rows = [
        (loc.unit_id, loc.grid_id, loc.village_id, loc.town_id)
        for loc in (hierarchy.location_of_unit(u) for u in hierarchy.unit_ids)
    ]
    lines = [",".join(r) + "\n" for r in rows]
    none = ",,,\n"
    out = sys.stdout
    buf: list[str] = []

    def flush() -> None:
        lons = np.empty(len(buf))
        lats = np.empty(len(buf))
        for i, text in enumerate(buf):
            lon, _, lat = text.partition(",")
            lons[i], lats[i] = float(lon), float(lat)
        idx = hierarchy.locate_index(lons, lats)
        out.write("".join(lines[i] if i >= 0 else none for i in idx.tolist()))

    for lineno, raw in enumerate(sys.stdin, start=1):
        text = raw.strip()
        lon, sep, lat = text.partition(",")
        try:
            float(lon), float(lat)
            if not sep:
                raise ValueError
        except ValueError:
            out.flush()
            print(f"stdin line {lineno}: expected lon,lat (value: {text[:60]!r})", file=sys.stderr)
            return 2
        buf.append(text)
        if len(buf) >= CHUNK:
            flush()
            buf.clear()
    if buf:
        flush()
    out.flush()
    return 0
