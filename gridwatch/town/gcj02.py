"""GCJ-02 ("Mars coordinates", used by AMap/Gaode, Tencent and most Chinese map apps) to WGS-84.

gridwatch expects WGS-84 (RFC 7946). GCJ-02 is WGS-84 plus a published,
smooth, position-dependent offset of a few hundred metres; we apply the forward
formula and invert it by fixed-point iteration, which converges to well under a
millimetre inside China. Points outside mainland China's rough bounding box are
not shifted (the offset is defined only there).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as in the published formula
_EE = 0.00669342162296594323

FloatArray = npt.NDArray[np.float64]


def out_of_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    d_lat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * pi) + 320 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    d_lon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, d_lon), np.where(outside, 0.0, d_lat)


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The published forward transform."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    dx, dy = _offset(x, y)
    return x + dx, y + dy


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Inverse of :func:`wgs84_to_gcj02` by fixed-point iteration (error < 1e-9 degrees)."""
    gx = np.asarray(lon, dtype=np.float64)
    gy = np.asarray(lat, dtype=np.float64)
    wx, wy = gx.copy(), gy.copy()
    for _ in range(30):
        fx, fy = wgs84_to_gcj02(wx, wy)
        ex, ey = gx - fx, gy - fy
        wx, wy = wx + ex, wy + ey
        if max(float(np.abs(ex).max(initial=0)), float(np.abs(ey).max(initial=0))) < 1e-10:
            break
    return wx, wy


def convert_geojson(data: Any, *, precision: int | None = 7) -> Any:
    """A copy of a GeoJSON object with every geometry's coordinates moved from GCJ-02 to WGS-84."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key == "coordinates":
                out[key] = _convert_coords(value, precision)
            else:
                out[key] = convert_geojson(value, precision=precision)
        return out
    if isinstance(data, list):
        return [convert_geojson(v, precision=precision) for v in data]
    return data


def _convert_coords(coords: Any, precision: int | None) -> Any:
    if isinstance(coords, list) and coords and isinstance(coords[0], int | float):
        x, y = gcj02_to_wgs84(float(coords[0]), float(coords[1]))
        pos = [float(x), float(y), *coords[2:]]
        return [round(v, precision) for v in pos[:2]] + pos[2:] if precision is not None else pos
    if isinstance(coords, list):
        return [_convert_coords(c, precision) for c in coords]
    return coords
