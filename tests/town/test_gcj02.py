"""GCJ-02 import: published test vectors, and a round trip through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gridwatch.cli import main
from gridwatch.town.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

# (wgs lat, wgs lon, gcj lat, gcj lon): the test vectors published with eviltransform.
VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    dx = (lon2 - lon1) * 111_320 * math.cos(math.radians(lat1))
    return math.hypot(dx, (lat2 - lat1) * 110_574)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), VECTORS)
def test_published_vectors(wlat: float, wlon: float, glat: float, glon: float) -> None:
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert _metres(float(lon), float(lat), glon, glat) < 0.01
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert _metres(float(lon), float(lat), wlon, wlat) < 0.01
    assert _metres(wlon, wlat, glon, glat) > 100  # the shift is real, hundreds of metres


def test_outside_china_is_unchanged() -> None:
    lon, lat = gcj02_to_wgs84(np.array([2.35, -74.0]), np.array([48.85, 40.7]))
    assert lon.tolist() == [2.35, -74.0] and lat.tolist() == [48.85, 40.7]


def test_import_converts_a_hierarchy_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wgs = [[119.0, 25.45], [119.01, 25.45], [119.01, 25.46], [119.0, 25.46], [119.0, 25.45]]
    lon, lat = wgs84_to_gcj02([p[0] for p in wgs], [p[1] for p in wgs])
    gcj = [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]
    feature = {
        "type": "Feature",
        "properties": {"id": "t", "level": "town", "name": "t"},
        "geometry": {"type": "Polygon", "coordinates": [gcj]},
    }
    src, dst = tmp_path / "gcj.geojson", tmp_path / "wgs.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    assert main(["config", "import", "--from", "gcj02", str(src), str(dst)]) == 0
    out = json.loads(dst.read_text())["features"][0]
    assert out["properties"] == feature["properties"]
    for (x, y), (ex, ey) in zip(out["geometry"]["coordinates"][0], wgs, strict=True):
        assert _metres(x, y, ex, ey) < 0.05
    assert main(["config", "check", str(dst)]) == 0
    capsys.readouterr()
