"""Pixel to map: one camera's homography from reference points (pixel -> WGS-84 lon/lat).

The ground plane is fitted in a local east/north frame in metres around the
points' centroid, which keeps the solve well conditioned (raw degrees differ in
the fifth decimal) and makes the reprojection error readable in metres.
An object's map point is the bottom centre of its box, where it touches the ground.
Imports only numpy: the town's validation and the edge both fit with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8
#: Reference points further apart than this (after the fit) are refused: listed out of order.
MAX_ERROR_M = 5.0
Point = tuple[float, float]
Matrix = npt.NDArray[np.float64]


class HomographyError(ValueError):
    """Reference points that cannot give a pixel-to-map mapping; the message says why."""


@dataclass(frozen=True)
class Homography:
    """Maps pixels of one camera's detect stream to lon/lat and back."""

    matrix: Matrix  # pixel -> local metres
    origin: Point  # lon, lat of the local frame's origin
    error_m: float  # largest reprojection error over the reference points

    @classmethod
    def from_points(
        cls,
        pixels: Sequence[Point],
        lonlats: Sequence[Point],
        max_error_m: float = MAX_ERROR_M,
    ) -> Homography:
        """Fit from >= 4 pairs; HomographyError for too few, degenerate or inconsistent points."""
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
        px = [(float(x), float(y)) for x, y in pixels]
        _check_spread(px, "pixel points", 25.0)
        _check_spread(metres, "map points", 0.5)
        matrix = _fit(np.asarray(px, np.float64), np.asarray(metres, np.float64))
        if not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-12:
            raise HomographyError(f"no homography fits pixel points {px}")
        h = cls(matrix, origin, 0.0)
        err = max(_distance_m(h.to_map(p), ll) for p, ll in zip(px, lonlats, strict=True))
        if err > max_error_m:
            raise HomographyError(
                f"reference points disagree by up to {err:.1f} m (limit {max_error_m} m): "
                "check that pixel and lon/lat points are listed in the same order"
            )
        return cls(matrix, origin, err)

    def to_ground(self, pixel: Point) -> Point:
        """East/north metres of a pixel on the ground plane, in the fit's local frame."""
        x, y, w = self.matrix @ np.array([pixel[0], pixel[1], 1.0])
        if abs(w) < 1e-12:
            raise HomographyError(f"pixel {pixel} lies on the horizon of this camera")
        return (float(x / w), float(y / w))

    def to_map(self, pixel: Point) -> Point:
        """Lon/lat of a pixel on the ground plane."""
        return _from_local(self.origin, self.to_ground(pixel))

    def to_pixel(self, lonlat: Point) -> Point:
        """The pixel that shows a lon/lat of the ground plane."""
        e, n = _to_local(self.origin, lonlat)
        x, y, w = np.linalg.solve(self.matrix, np.array([e, n, 1.0]))
        return (float(x / w), float(y / w))

    def box_to_map(self, box: tuple[float, float, float, float]) -> Point:
        """Lon/lat of where an object in ``x1, y1, x2, y2`` ``box`` stands: its bottom centre."""
        return self.to_map(((box[0] + box[2]) / 2.0, box[3]))


def _fit(src: Matrix, dst: Matrix) -> Matrix:
    """Normalised DLT: exact for four points, least squares in the algebraic error beyond."""
    ts, td = _normaliser(src), _normaliser(dst)
    s = _apply(ts, src)
    d = _apply(td, dst)
    rows = []
    for (x, y), (u, v) in zip(s, d, strict=True):
        rows.append([-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u])
        rows.append([0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v])
    _, _, vt = np.linalg.svd(np.asarray(rows, np.float64))
    h = np.linalg.inv(td) @ vt[-1].reshape(3, 3) @ ts
    return np.asarray(h / h[2, 2] if abs(h[2, 2]) > 1e-12 else h, np.float64)


def _normaliser(points: Matrix) -> Matrix:
    """Similarity moving the points' centroid to 0 and their mean distance to sqrt(2)."""
    centre = points.mean(axis=0)
    spread = float(np.mean(np.linalg.norm(points - centre, axis=1))) or 1.0
    k = math.sqrt(2.0) / spread
    return np.array([[k, 0, -k * centre[0]], [0, k, -k * centre[1]], [0, 0, 1]], np.float64)


def _apply(t: Matrix, points: Matrix) -> Matrix:
    homog = np.column_stack([points, np.ones(len(points))]) @ t.T
    return np.asarray(homog[:, :2] / homog[:, 2:], np.float64)


def _triangle_area(a: Point, b: Point, c: Point) -> float:
    return abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2.0


def _check_spread(points: Sequence[Point], what: str, min_area: float) -> None:
    """Refuse point sets with no four points of which no three are (nearly) on a line."""
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
            f"{what} lie on a line or repeat: no four of {list(points)} span a proper quadrilateral"
        )


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


#: A field of view is cut off this far (metres, east or north) from the reference points.
MAX_VIEW_M = 300.0
#: How close to the horizon (in ``w``, relative to the frame's largest) the view is cut.
_HORIZON_MARGIN = 1e-3


def field_of_view(
    h: Homography,
    frame: tuple[float, float, float, float],
    ground: Point,
    max_range_m: float = MAX_VIEW_M,
) -> list[Point] | None:
    """The ground a camera's frame ``x0, y0, x1, y1`` (pixels) shows, as a closed lon/lat
    ring, anticlockwise (GeoJSON's exterior); None when none of the frame is ground.
    ``ground`` is a pixel known to show the ground (e.g. the reference points' centroid):
    it says which side of the horizon line is the ground, and which the mirror image
    behind the camera that the same matrix also gives.

    The part of the frame above the horizon is cut off, and so is the ground further
    than ``max_range_m`` east or north of the reference points' centroid (near the
    horizon one pixel spans kilometres). A homography maps straight lines to straight
    lines, so the corners of what is left, mapped, are the polygon.
    """
    x0, y0, x1, y1 = frame
    quad: list[Point] = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    a, b, c = (float(v) for v in h.matrix[2])
    # w = a x + b y + c changes sign at the horizon; the ground is on ``ground``'s side.
    sign = 1.0 if a * ground[0] + b * ground[1] + c >= 0 else -1.0
    top = max(abs(a * x + b * y + c) for x, y in quad)
    margin = _HORIZON_MARGIN * top
    seen = _clip(quad, lambda p: sign * (a * p[0] + b * p[1] + c) - margin)
    if len(seen) < 3:
        return None
    metres = [h.to_ground(p) for p in seen]
    r = max_range_m
    for edge in (
        lambda p: r - p[0],
        lambda p: p[0] + r,
        lambda p: r - p[1],
        lambda p: p[1] + r,
    ):
        metres = _clip(metres, edge)
    if len(metres) < 3:
        return None
    if _signed_area(metres) < 0:
        metres.reverse()
    ring = [_from_local(h.origin, p) for p in metres]
    return [*ring, ring[0]]


def _clip(poly: list[Point], inside: Callable[[Point], float]) -> list[Point]:
    """Sutherland-Hodgman: ``poly`` where ``inside(p) >= 0`` (a linear function of p)."""
    out: list[Point] = []
    for i, cur in enumerate(poly):
        prev = poly[i - 1]
        fc, fp = inside(cur), inside(prev)
        if (fc >= 0) != (fp >= 0):
            t = fp / (fp - fc)
            out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
        if fc >= 0:
            out.append(cur)
    return out


def _signed_area(poly: Sequence[Point]) -> float:
    return (
        sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(poly, [*poly[1:], poly[0]], strict=True))
        / 2.0
    )
