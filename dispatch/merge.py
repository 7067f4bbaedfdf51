"""Pure merge decision: does a new event or report join an open case?

Same category, an open case, within a distance (metres) and a time window set
per category. Points missing on either side fall back to "same unit".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from dispatch.lifecycle import OPEN_STATUSES
from dispatch.rows import Incoming, OpenCase

__all__ = [
    "Incoming",
    "MergeRule",
    "MergeTable",
    "OpenCase",
    "OpenIndex",
    "choose",
    "distance_m",
    "gap",
    "joins",
]


class MergeRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    distance_m: float = Field(
        default=100.0, ge=0, le=10_000, description="Max distance to the case"
    )
    window_min: float = Field(
        default=30.0, ge=0, le=7 * 24 * 60, description="Max minutes since last"
    )


class MergeTable(BaseModel):
    """``merge:`` section of ``routing.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: MergeRule = Field(default_factory=lambda: MergeRule())
    categories: dict[str, MergeRule] = Field(default_factory=dict)

    def rule(self, category: str) -> MergeRule:
        return self.categories.get(category, self.default)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine); exact enough at town scale."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def gap(case: OpenCase, new: Incoming) -> float | None:
    """Distance used for merging, or None when the two cannot be compared."""
    if None not in (case.lon, case.lat, new.lon, new.lat):
        return distance_m(case.lon, case.lat, new.lon, new.lat)  # type: ignore[arg-type]
    if case.unit_id is not None and case.unit_id == new.unit_id:
        return 0.0
    return None


def joins(case: OpenCase, new: Incoming, rule: MergeRule) -> bool:
    if case.category != new.category or case.status not in OPEN_STATUSES:
        return False
    if new.at - case.last_event_at > timedelta(minutes=rule.window_min):
        return False
    d = gap(case, new)
    return d is not None and d <= rule.distance_m


def choose(cases: Iterable[OpenCase], new: Incoming, rule: MergeRule) -> OpenCase | None:
    """The open case the newcomer joins: the nearest; ties go to the oldest case."""
    best: tuple[float, int, OpenCase] | None = None
    for case in cases:
        if joins(case, new, rule):
            d = gap(case, new)
            assert d is not None
            key = (d, case.id, case)
            if best is None or key[:2] < best[:2]:
                best = key
    return best[2] if best else None


_M_PER_DEG = 111_195.0


class OpenIndex:
    """Open cases bucketed by ~100 m map cells and by unit, so a newcomer checks only
    the cases that could be near it. :meth:`choose` gives what :func:`choose` over
    every case gives.
    """

    def __init__(self, cell_deg: float = 0.001) -> None:
        self.cell_deg = cell_deg
        self._cells: dict[tuple[int, int], dict[int, OpenCase]] = {}
        self._units: dict[str | None, dict[int, OpenCase]] = {}
        self._cases: dict[int, OpenCase] = {}

    def __len__(self) -> int:
        return len(self._cases)

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        return (math.floor(lon / self.cell_deg), math.floor(lat / self.cell_deg))

    def put(self, case: OpenCase) -> None:
        """Add a case, or replace the entry with the same id."""
        self.discard(case.id)
        self._cases[case.id] = case
        self._units.setdefault(case.unit_id, {})[case.id] = case
        if case.lon is not None and case.lat is not None:
            self._cells.setdefault(self._cell(case.lon, case.lat), {})[case.id] = case

    def get(self, case_id: int) -> OpenCase | None:
        return self._cases.get(case_id)

    def discard(self, case_id: int) -> None:
        old = self._cases.pop(case_id, None)
        if old is None:
            return
        self._units.get(old.unit_id, {}).pop(case_id, None)
        if old.lon is not None and old.lat is not None:
            self._cells.get(self._cell(old.lon, old.lat), {}).pop(case_id, None)

    def nearby(self, new: Incoming, rule: MergeRule) -> list[OpenCase]:
        """A superset of the cases ``new`` could join."""
        found: dict[int, OpenCase] = {}
        if new.unit_id is not None:
            # Cases without a point join by unit; cheap to include them all.
            found.update(self._units.get(new.unit_id, {}))
        if new.lon is not None and new.lat is not None:
            reach_lat = rule.distance_m / _M_PER_DEG
            cos_lat = max(math.cos(math.radians(new.lat)), 1e-6)
            reach_lon = reach_lat / cos_lat
            x0, y0 = self._cell(new.lon - reach_lon, new.lat - reach_lat)
            x1, y1 = self._cell(new.lon + reach_lon, new.lat + reach_lat)
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    cell = self._cells.get((x, y))
                    if cell:
                        found.update(cell)
        return list(found.values())

    def choose(self, new: Incoming, rule: MergeRule) -> OpenCase | None:
        return choose(self.nearby(new, rule), new, rule)
