"""Exact point-in-unit location, vectorised.

Semantics are shapely's ``intersects`` (a point on a unit's boundary is in the
unit). Units are kept sorted by id, so among several units that contain a point
(only possible on a shared edge or within a validation tolerance) the smallest
index is the lexicographically smallest id: deterministic results.

Two exact paths give the same answers:

- few points: a shapely 2 STRtree bounding-box query, then the exact test on
  prepared shapes;
- many points: a uniform grid over the units, built on first use. A cell that
  one unit covers and no other unit touches answers directly by array lookup;
  so does a cell no unit touches. Only points in the remaining cells (those a
  boundary crosses) get the exact test, against just that cell's units. Cells
  are grown by a hair before classification so a point that floating point puts
  in the neighbouring cell is still answered correctly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

IndexArray = npt.NDArray[np.intp]

#: Bulk queries at least this large use the grid (building it costs ~0.1-0.3 s per 1,000 units).
GRID_MIN_POINTS = 4096
#: Target number of grid cells per unit.
CELLS_PER_UNIT = 64
_BOUNDARY = -2


@dataclass(frozen=True)
class _Grid:
    minx: float
    miny: float
    maxx: float
    maxy: float
    dx: float
    dy: float
    nx: int
    ny: int
    answer: IndexArray  # per cell: unit index, -1 for none, _BOUNDARY for "test exactly"
    ptr: IndexArray  # CSR offsets into cand, per cell
    cand: IndexArray  # candidate unit indices of boundary cells


class PointLocator:
    """Finds, for many points at once, the index of the unit containing each point."""

    def __init__(
        self, geometries: Sequence[BaseGeometry], grid_min_points: int = GRID_MIN_POINTS
    ) -> None:
        self._geoms = np.empty(len(geometries), dtype=object)
        self._geoms[:] = list(geometries)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._grid_min_points = grid_min_points
        self._grid: _Grid | None = None

    def __len__(self) -> int:
        return len(self._geoms)

    def index(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> IndexArray:
        """Index of the containing geometry per point, -1 where none; ties go to the lowest."""
        x = np.asarray(lons, dtype=np.float64).ravel()
        y = np.asarray(lats, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lons has {x.size} values but lats has {y.size}")
        if x.size == 0 or len(self._geoms) == 0:
            return np.full(x.size, -1, dtype=np.intp)
        if x.size >= self._grid_min_points:
            return self._index_grid(x, y)
        return self._index_tree(x, y)

    def index_one(self, lon: float, lat: float) -> int:
        """Like :meth:`index` for one point, without the array set-up (a few microseconds)."""
        if not (math.isfinite(lon) and math.isfinite(lat)) or len(self._geoms) == 0:
            return -1
        candidates = self._tree.query(shapely.Point(lon, lat))
        for i in sorted(candidates.tolist()):
            if shapely.intersects_xy(self._geoms[i], lon, lat):
                return int(i)
        return -1

    # --- the two bulk paths ---------------------------------------------------------------

    def _exact_min(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        point_idx: IndexArray,
        geom_idx: IndexArray,
        out: IndexArray,
    ) -> None:
        """Set out[p] to the lowest g with point p in geometry g, over candidate pairs."""
        if point_idx.size == 0:
            return
        hit = shapely.intersects_xy(self._geoms[geom_idx], x[point_idx], y[point_idx])
        np.minimum.at(out, point_idx[hit], geom_idx[hit])

    def _index_tree(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> IndexArray:
        none = len(self._geoms)
        out = np.full(x.size, none, dtype=np.intp)
        point_idx, geom_idx = self._tree.query(shapely.points(x, y))
        self._exact_min(x, y, point_idx, geom_idx, out)
        out[out == none] = -1
        return out

    def _index_grid(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> IndexArray:
        grid = self._grid or self._build_grid()
        # Closed bounds (False for NaN); the clip puts points on the far edges in the last cells.
        inside = (x >= grid.minx) & (x <= grid.maxx) & (y >= grid.miny) & (y <= grid.maxy)
        fx = np.clip((x[inside] - grid.minx) // grid.dx, 0, grid.nx - 1).astype(np.intp)
        fy = np.clip((y[inside] - grid.miny) // grid.dy, 0, grid.ny - 1).astype(np.intp)
        cell = np.zeros(x.size, dtype=np.intp)
        cell[inside] = fy * grid.nx + fx
        out = np.where(inside, grid.answer[cell], -1)
        todo = np.flatnonzero(out == _BOUNDARY)
        if todo.size:
            cells = cell[todo]
            starts, counts = grid.ptr[cells], grid.ptr[cells + 1] - grid.ptr[cells]
            point_idx = np.repeat(todo, counts)
            # Offsets 0..count-1 within each point's run of candidates.
            run_start = np.repeat(np.cumsum(counts) - counts, counts)
            within = np.arange(point_idx.size) - run_start
            geom_idx = grid.cand[np.repeat(starts, counts) + within]
            none = len(self._geoms)
            out[todo] = none
            self._exact_min(x, y, point_idx, geom_idx, out)
            out[out == none] = -1
        return out

    def _build_grid(self) -> _Grid:
        minx, miny, maxx, maxy = shapely.total_bounds(self._geoms).tolist()
        width, height = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        cells = CELLS_PER_UNIT * len(self._geoms)
        size = math.sqrt(width * height / cells)
        nx = max(1, min(4096, math.ceil(width / size)))
        ny = max(1, min(4096, math.ceil(height / size)))
        dx, dy = width / nx, height / ny
        gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
        x0 = minx + gx.ravel() * dx
        y0 = miny + gy.ravel() * dy
        hair_x, hair_y = dx * 1e-6, dy * 1e-6
        boxes = shapely.box(x0 - hair_x, y0 - hair_y, x0 + dx + hair_x, y0 + dy + hair_y)
        cell_idx, geom_idx = self._tree.query(boxes, predicate="intersects")
        order = np.lexsort((geom_idx, cell_idx))
        cell_idx, geom_idx = cell_idx[order], geom_idx[order]
        counts = np.bincount(cell_idx, minlength=nx * ny)
        answer = np.full(nx * ny, -1, dtype=np.intp)
        single = np.flatnonzero(counts[cell_idx] == 1)
        covered = shapely.covers(self._geoms[geom_idx[single]], boxes[cell_idx[single]])
        answer[counts > 0] = _BOUNDARY
        answer[cell_idx[single[covered]]] = geom_idx[single[covered]]
        boundary = answer[cell_idx] == _BOUNDARY
        b_cells, b_geoms = cell_idx[boundary], geom_idx[boundary]
        per_cell = np.bincount(b_cells, minlength=nx * ny)
        ptr = np.concatenate([[0], np.cumsum(per_cell)]).astype(np.intp)
        self._grid = _Grid(
            minx, miny, maxx, maxy, dx, dy, nx, ny, answer, ptr, b_geoms.astype(np.intp)
        )
        return self._grid
