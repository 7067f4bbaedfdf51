"""Routing a whole batch at once gives each event the route it gets on its own."""

from __future__ import annotations

import numpy as np

from dispatch.routing import Problem, route, route_many
from tests.dispatch.conftest import TownFixture


def test_a_batch_routed_at_once_matches_each_event_routed_alone(zhongmen: TownFixture) -> None:
    town = zhongmen.town
    minx, miny, maxx, maxy = town.hierarchy.geometries[town.hierarchy.town_id].bounds
    rng = np.random.default_rng(3)
    units = list(town.hierarchy.unit_ids)
    problems = []
    for k in range(600):
        cat = ("loitering", "fire_smoke", "camera_tamper")[k % 3]
        if k % 5 == 0:  # no point: routed by the camera's unit
            problems.append(Problem(cat, None, None, units[k % len(units)]))
        elif k % 7 == 0:  # a point outside the town, with and without a camera unit
            problems.append(Problem(cat, maxx + 1.0, maxy + 1.0, units[k] if k % 2 else None))
        elif k % 11 == 0:  # a unit the town does not know
            problems.append(Problem(cat, None, None, "no-such-unit"))
        else:
            lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            problems.append(Problem(cat, float(lon), float(lat), None))
    together = route_many(town, problems)
    assert together == [route(town, p) for p in problems]
    assert {r.unit_id for r in together} - {None}, "some points fall in a unit"
    assert any(r.unit_id is None for r in together), "some fall in none"
