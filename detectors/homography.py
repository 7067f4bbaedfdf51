"""Pixel to map: a per-camera homography from reference points (pixel → WGS-84 lon/lat).

The ground plane is fitted in a local east/north frame in metres around the
points' centroid, which keeps the solve well conditioned (raw degrees differ in
the fifth decimal) and makes the reprojection error readable in metres.
An object's map point is the bottom centre of its box, where it touches the ground.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.types import DetectorError

EARTH_RADIUS_M = 6_371_008.8
Point = tuple[float, float]


class HomographyError(DetectorError):
    """Reference points that cannot give a pixel-to-map mapping; the message says why."""


def _triangle_area(a: Point, b: Point, c: Point) -> float:
    return abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2.0


def _check_spread(points: Sequence[Point], what: str, min_area: float) -> None:
    """Refuse point sets with fewer than four points not three on a line."""
    if len(points) > 10:
        # Many points: judge the four extreme ones instead of every quadruple.
        keys = (
            lambda p: p[0] + p[1],
            lambda p: p[0] - p[1],
            lambda p: -p[0] + p[1],
            lambda p: -p[0] - p[1],
        )
        points = [max(points, key=k) for k in keys]
    best = max(
        min(_triangle_area(*tri) for tri in combinations(quad, 3))
        for quad in combinations(points, 4)
    )
    if best < min_area:
        raise HomographyError(
            f"{what} are (nearly) collinear or repeated: no four of {list(points)} "
            f"span a proper quadrilateral"
        )


@dataclass(frozen=True)
class Homography:
    """Maps pixels of one camera's detect stream to lon/lat and back."""

    matrix: npt.NDArray[np.float64]  # pixel -> local metres
    origin: Point  # lon, lat of the local frame's origin
    error_m: float  # largest reprojection error over the reference points

    @classmethod
    def from_points(
        cls,
        pixels: Sequence[Point],
        lonlats: Sequence[Point],
        max_error_m: float = 5.0,
    ) -> Homography:
        """Fit from >= 4 pairs; HomographyError for too few, degenerate or inconsistent points."""
        import cv2

        if len(pixels) != len(lonlats):
            raise HomographyError(f"{len(pixels)} pixel points but {len(lonlats)} lon/lat points")
        if len(pixels) < 4:
            raise HomographyError(f"need at least 4 reference points, got {len(pixels)}")
        for lon, lat in lonlats:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise HomographyError(f"lon/lat {(lon, lat)} is not a WGS-84 coordinate")
        origin = (
            float(np.mean([p[0] for p in lonlats])),
            float(np.mean([p[1] for p in lonlats])),
        )
        metres = [_to_local(origin, p) for p in lonlats]
        _check_spread([(float(x), float(y)) for x, y in pixels], "pixel points", 25.0)
        _check_spread(metres, "map points", 0.5)
        src = np.asarray(pixels, np.float64).reshape(-1, 1, 2)
        dst = np.asarray(metres, np.float64).reshape(-1, 1, 2)
        matrix: Any
        matrix, _ = cv2.findHomography(src, dst, 0)
        if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-12:
            raise HomographyError(f"no homography fits pixel points {list(pixels)}")
        h = cls(np.asarray(matrix, np.float64), origin, 0.0)
        err = max(_distance_m(h.to_map(px), ll) for px, ll in zip(pixels, lonlats, strict=True))
        if err > max_error_m:
            raise HomographyError(
                f"reference points disagree by up to {err:.1f} m (limit {max_error_m} m): "
                "check that pixel and lon/lat points are listed in the same order"
            )
        return cls(h.matrix, origin, err)

    def to_map(self, pixel: Point) -> Point:
        """Lon/lat of a pixel on the ground plane."""
        x, y, w = self.matrix @ np.array([pixel[0], pixel[1], 1.0])
        if abs(w) < 1e-12:
            raise HomographyError(f"pixel {pixel} lies on the horizon of this camera")
        return _from_local(self.origin, (x / w, y / w))

    def to_pixel(self, lonlat: Point) -> Point:
        e, n = _to_local(self.origin, lonlat)
        x, y, w = np.linalg.solve(self.matrix, np.array([e, n, 1.0]))
        return (float(x / w), float(y / w))

    def box_to_map(self, box: tuple[float, float, float, float]) -> Point:
        """Lon/lat of where an object in ``box`` stands: its bottom centre."""
        return self.to_map(((box[0] + box[2]) / 2.0, box[3]))


def _to_local(origin: Point, lonlat: Point) -> Point:
    lat0 = math.radians(origin[1])
    east = math.radians(lonlat[0] - origin[0]) * EARTH_RADIUS_M * math.cos(lat0)
    north = math.radians(lonlat[1] - origin[1]) * EARTH_RADIUS_M
    return (east, north)


def _from_local(origin: Point, en: Point) -> Point:
    lat0 = math.radians(origin[1])
    lon = origin[0] + math.degrees(en[0] / (EARTH_RADIUS_M * math.cos(lat0)))
    lat = origin[1] + math.degrees(en[1] / EARTH_RADIUS_M)
    return (float(lon), float(lat))


def _distance_m(a: Point, b: Point) -> float:
    return math.dist(_to_local(a, b), (0.0, 0.0))
