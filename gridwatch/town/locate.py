"""Exact point-in-unit location, vectorised with a shapely 2 STRtree.

Semantics are shapely's ``intersects`` (a point on a unit's boundary is in the
unit). Units are kept sorted by id, so among several units that contain a point
(only possible on a shared edge or within a validation tolerance) the smallest
tree index is the lexicographically smallest id: deterministic results.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

IndexArray = npt.NDArray[np.intp]


class PointLocator:
    """Finds, for many points at once, the index of the unit containing each point."""

    def __init__(self, geometries: Sequence[BaseGeometry]) -> None:
        self._geoms = np.empty(len(geometries), dtype=object)
        self._geoms[:] = list(geometries)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)

    def __len__(self) -> int:
        return len(self._geoms)

    def index(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> IndexArray:
        """Index of the containing geometry per point, -1 where none; ties go to the lowest."""
        x = np.asarray(lons, dtype=np.float64).ravel()
        y = np.asarray(lats, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lons has {x.size} values but lats has {y.size}")
        n = x.size
        none = len(self._geoms)
        out = np.full(n, none, dtype=np.intp)
        if n == 0 or none == 0:
            return np.full(n, -1, dtype=np.intp)
        points = shapely.points(x, y)
        # Bounding-box candidates from the tree, then the exact test on prepared geometries.
        point_idx, geom_idx = self._tree.query(points)
        if point_idx.size:
            hit = shapely.intersects_xy(self._geoms[geom_idx], x[point_idx], y[point_idx])
            np.minimum.at(out, point_idx[hit], geom_idx[hit])
        out[out == none] = -1
        return out
