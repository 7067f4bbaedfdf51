"""Table-driven tests of the pure decisions: merge, lifecycle, routing, escalation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatch.errors import ActionInputError, TransitionError
from dispatch.escalation import CaseTiming, is_due, plan
from dispatch.lifecycle import TRANSITIONS, Action, Status, allowed_actions, next_status
from dispatch.merge import Incoming, MergeRule, OpenCase, OpenIndex, choose, distance_m, joins
from dispatch.routing import Problem, route
from tests.dispatch.conftest import TownFixture

T0 = datetime(2025, 9, 16, 1, 0, tzinfo=UTC)
RULE = MergeRule(distance_m=100, window_min=30)
LON, LAT = 119.0, 25.45
DEG_PER_M = 1 / 111_195  # latitude degrees per metre


#: An open case and a new event at the same point and time; each row of a table
#: changes what it tests.
CASE = OpenCase(
    id=1, category="fire_smoke", status="assigned", unit_id="U1", lon=LON, lat=LAT, last_event_at=T0
)
EVENT = Incoming(
    category="fire_smoke",
    severity=1,
    unit_id="U1",
    lon=LON,
    lat=LAT,
    at=T0,
    summary=None,
    source="event",
)


def case(**changes: Any) -> OpenCase:
    return dataclasses.replace(CASE, **changes)


def new(**changes: Any) -> Incoming:
    return dataclasses.replace(EVENT, **changes)


@pytest.mark.parametrize(
    ("c", "n", "expected"),
    [
        (case(), new(), True),
        (case(), new(lat=LAT + 90 * DEG_PER_M), True),
        (case(), new(lat=LAT + 110 * DEG_PER_M), False),
        (case(), new(at=T0 + timedelta(minutes=29)), True),
        (case(), new(at=T0 + timedelta(minutes=31)), False),
        (case(), new(at=T0 - timedelta(minutes=5)), True),  # late arrival, out of order
        (case(), new(category="flood"), False),
        (case(status="resolved"), new(), False),
        (case(status="reopened"), new(), True),
        # No point on one side: the same unit counts as "here", another unit does not.
        (case(lon=None, lat=None), new(), True),
        (case(lon=None, lat=None), new(unit_id="U2"), False),
        (case(), new(lon=None, lat=None, unit_id=None), False),
    ],
)
def test_merge_decision(c: OpenCase, n: Incoming, expected: bool) -> None:
    assert joins(c, n, RULE) is expected


def test_merge_picks_the_nearest_open_case_then_the_oldest() -> None:
    far = case(id=5, lat=LAT + 60 * DEG_PER_M)
    near = case(id=9, lat=LAT + 10 * DEG_PER_M)
    twin = case(id=7, lat=LAT + 10 * DEG_PER_M)
    assert choose([far, near, twin], new(), RULE) == twin
    assert choose([case(status="closed")], new(), RULE) is None


def test_distance_is_metres_on_the_ground() -> None:
    assert distance_m(LON, LAT, LON, LAT + 1000 * DEG_PER_M) == pytest.approx(1000, rel=1e-3)


@pytest.mark.parametrize(
    ("start", "action", "note", "rating", "expected"),
    [
        ("new", "assign", None, None, "assigned"),
        ("assigned", "accept", None, None, "accepted"),
        ("accepted", "start", None, None, "in_progress"),
        ("in_progress", "resolve", None, None, "resolved"),
        ("resolved", "verify", None, None, "verified"),
        ("resolved", "rate_satisfied", None, 5, "verified"),
        ("resolved", "rate_unsatisfied", "还有问题", 2, "in_progress"),
        # 回访: the rating decides; satisfied closes a verified case.
        ("verified", "follow_up", None, 4, "closed"),
        ("verified", "follow_up", None, 3, "closed"),
        ("verified", "follow_up", "还有残留", 2, "in_progress"),
        ("resolved", "follow_up", None, 5, "verified"),
        ("resolved", "return", "照片不清", None, "in_progress"),
        ("verified", "return", "复查未通过", None, "in_progress"),
        ("verified", "close", None, None, "closed"),
        ("assigned", "reject", "不属于本单元", None, "rejected"),
        ("rejected", "assign", None, None, "assigned"),
        ("in_progress", "reassign", None, None, "assigned"),
        ("in_progress", "mark_duplicate", None, None, "duplicate"),
        ("assigned", "merge", None, None, "duplicate"),
        ("closed", "reopen", "又发生了", None, "reopened"),
        ("reopened", "accept", None, None, "accepted"),
        ("closed", "comment", "居民来电致谢", None, "closed"),
        ("accepted", "escalate", None, None, "accepted"),
        ("new", "accept", None, None, TransitionError),
        ("closed", "resolve", None, None, TransitionError),
        ("duplicate", "reopen", "x", None, TransitionError),
        ("in_progress", "verify", None, None, TransitionError),
        ("in_progress", "follow_up", None, 5, TransitionError),
        ("closed", "escalate", None, None, TransitionError),
        ("assigned", "reject", "  ", None, ActionInputError),  # a reason is required
        ("resolved", "return", None, None, ActionInputError),
        ("accepted", "comment", "", None, ActionInputError),
        ("resolved", "rate_unsatisfied", None, 2, ActionInputError),
        ("resolved", "follow_up", None, None, ActionInputError),  # a rating is required
        ("resolved", "follow_up", None, 6, ActionInputError),
        ("resolved", "rate_satisfied", None, 1, ActionInputError),  # rating contradicts
        ("nonsense", "accept", None, None, TransitionError),
        ("new", "nonsense", None, None, TransitionError),
    ],
)
def test_transition_table(
    start: str,
    action: str,
    note: str | None,
    rating: int | None,
    expected: str | type[Exception],
) -> None:
    if isinstance(expected, str):
        assert next_status(start, action, note, rating=rating).to_status == Status(expected)
    else:
        with pytest.raises(expected):
            next_status(start, action, note, rating=rating)


def test_a_wrong_transition_names_the_state_and_the_action() -> None:
    with pytest.raises(TransitionError) as err:
        next_status("closed", "accept")
    assert (err.value.status, err.value.action) == ("closed", "accept")
    assert "'accept' is not allowed from status 'closed'" in str(err.value)
    with pytest.raises(ActionInputError) as bad:
        next_status("resolved", "return")
    assert bad.value.field == "note"


def test_every_status_is_reachable_and_closed_only_reopens() -> None:
    reached = {Status.NEW} | set(TRANSITIONS.values())
    assert reached == set(Status)
    assert allowed_actions("closed") == [Action.REOPEN, Action.COMMENT]
    assert allowed_actions("duplicate") == [Action.COMMENT]
    assert Action.FOLLOW_UP in allowed_actions("verified")


def test_routing_by_point_by_device_unit_and_past_a_vacancy(zhongmen: TownFixture) -> None:
    town = zhongmen.town
    hier = town.hierarchy
    for n in range(30):
        unit = zhongmen.unit(n)
        lon, lat = zhongmen.point_in(unit)
        r = route(town, Problem("intrusion", lon, lat, unit_id=None))
        chain = hier.chain(unit)
        assert (r.unit_id, r.grid_id, r.village_id, r.town_id) == tuple(a.id for a in chain)
        assert r.assignee == chain[0].leader.person_id  # type: ignore[union-attr]
        assert r.department_id == "police" and r.assignee_level == 0
    # A point outside the town: the camera's unit.
    unit = zhongmen.unit(31)
    r = route(town, Problem("flood", 0.0, 0.0, unit_id=unit))
    assert r.unit_id == unit and "in no unit" in r.note
    assert r.department_id == "emergency"
    assert r.department_contact_name == town.people[r.department_contact or ""].name
    for vacant in zhongmen.synth.vacant_units:
        r = route(town, Problem("other", unit_id=vacant))
        grid = hier.chain(vacant)[1]
        assert (r.assignee, r.assignee_area, r.assignee_level) == (
            grid.leader.person_id,  # type: ignore[union-attr]
            grid.id,
            1,
        )
        assert vacant in r.note
    nowhere = route(town, Problem("other", 0.0, 0.0))
    assert nowhere.unit_id is None and nowhere.assignee is None


def test_escalation_plan(zhongmen: TownFixture) -> None:
    chain = zhongmen.town.hierarchy.chain(zhongmen.unit(3))
    timing = CaseTiming(1, "assigned", 0, 0, T0)
    window = timedelta(hours=1)
    assert plan(timing, T0 - timedelta(seconds=1), chain, None, window) is None
    step = plan(timing, T0, chain, ("P1", "部门联系人"), window)
    assert step is not None
    assert (step.from_level, step.to_level, step.missed, step.next_at) == (
        0,
        1,
        "accept",
        T0 + window,
    )
    assert step.leader is not None and step.leader.person == chain[1].leader.person_id  # type: ignore[union-attr]
    assert [(p.role, p.person) for p in step.pulled_in] == [
        ("liaison", chain[0].liaison.person_id),  # type: ignore[union-attr]
        ("department", "P1"),
    ]
    # Held by the grid leader already (vacant unit): the first rise goes to the village.
    step = plan(CaseTiming(1, "accepted", 0, 1, T0), T0, chain, None, window)
    assert step is not None and (step.to_level, step.missed) == (2, "resolve")
    # At the town, or closed: nothing further.
    assert not is_due(CaseTiming(1, "assigned", 3, 0, T0), T0)
    assert not is_due(CaseTiming(1, "closed", 0, 0, T0), T0)
    last = plan(CaseTiming(1, "assigned", 2, 0, T0), T0, chain, None, window)
    assert last is not None and last.to_level == 3 and last.next_at is None


@pytest.mark.parametrize("distance", [0.0, 30.0, 100.0, 500.0])
def test_the_cell_index_chooses_exactly_what_a_scan_of_every_case_chooses(distance: float) -> None:
    import random

    rng = random.Random(int(distance) + 1)
    rule = MergeRule(distance_m=distance, window_min=30)
    units = [f"U{i}" for i in range(6)]
    cases = []
    for i in range(400):
        pointless = rng.random() < 0.1
        cases.append(
            case(
                id=i,
                unit_id=rng.choice(units),
                lon=None if pointless else LON + rng.uniform(-0.01, 0.01),
                lat=None if pointless else LAT + rng.uniform(-0.01, 0.01),
                last_event_at=T0 - timedelta(minutes=rng.uniform(0, 60)),
                status=rng.choice(["assigned", "accepted", "resolved"]),
            )
        )
    index = OpenIndex()
    for c in cases:
        index.put(c)
    index.put(dataclasses.replace(cases[0], lon=LON, lat=LAT))  # replacing keeps one entry
    cases[0] = dataclasses.replace(cases[0], lon=LON, lat=LAT)
    assert len(index) == len(cases)
    for _ in range(500):
        exact = rng.random() < 0.2
        target = rng.choice(cases)
        n = new(
            unit_id=rng.choice(units),
            lon=target.lon if exact else LON + rng.uniform(-0.011, 0.011),
            lat=target.lat if exact else LAT + rng.uniform(-0.011, 0.011),
        )
        if rng.random() < 0.1:
            n = new(unit_id=rng.choice(units), lon=None, lat=None)
        assert index.choose(n, rule) == choose(cases, n, rule)
