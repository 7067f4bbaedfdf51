"""Every track rule on synthetic tracks: enter, leave, dwell, border flicker, cooldown, schedule.

A scenario is a list of frames at 10 fps; each frame lists the objects seen as
``(track_id, class, x, y)`` with (x, y) the bottom centre of a 40x80 box.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from detectors.engine import build_camera_rules
from detectors.tracking import Track
from detectors.types import RuleHit
from gridwatch.camera_rules import CameraRulesConfig

TZ = ZoneInfo("Asia/Shanghai")
# 2026-06-01 10:00 in Shanghai.
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
FPS = 10
ZONE = {"name": "yard", "polygon": [[100, 100], [300, 100], [300, 300], [100, 300]]}

Obj = tuple[int, str, float, float]


def at(i: int, t0: datetime = T0) -> datetime:
    return t0 + timedelta(seconds=i / FPS)


def run(
    rules: list[dict[str, Any]],
    frames: Sequence[Sequence[Obj]],
    t0: datetime = T0,
    flush: bool = True,
) -> list[tuple[int, RuleHit]]:
    """Feed the frames through the engine's rules, keeping first-seen and still times
    the way the tracker does; returns (frame index, hit) pairs."""
    # Confirmation is off: these tables are about the rules' timing (tests/detectors/
    # test_confirm.py covers it).
    cfg = CameraRulesConfig.model_validate(
        {"zones": [ZONE], "rules": rules, "objects": {"confirm": {"enabled": False}}}
    )
    engine = build_camera_rules(cfg, TZ)
    first: dict[int, datetime] = {}
    still: dict[int, tuple[float, float, datetime]] = {}
    out: list[tuple[int, RuleHit]] = []
    for i, objs in enumerate(frames):
        ts = at(i, t0)
        tracks = []
        for tid, cls, x, y in objs:
            first.setdefault(tid, ts)
            rx, ry, since = still.get(tid, (x, y, ts))
            if abs(rx - x) > 6 or abs(ry - y) > 6:
                rx, ry, since = x, y, ts
            still[tid] = (rx, ry, since)
            box = (x - 20, y - 80, x + 20, y)
            tracks.append(Track(tid, cls, 0.8, box, first[tid], since, 0.8))
        out += [(i, h) for h in engine.step_tracks(ts, tracks)]
    if flush:
        out += [(len(frames), h) for h in engine.flush(at(len(frames), t0))]
    return out


def walk(tid: int, cls: str, x0: float, x1: float, n: int, y: float = 200) -> list[list[Obj]]:
    return [[(tid, cls, x0 + (x1 - x0) * k / max(1, n - 1), y)] for k in range(n)]


def still_frames(tid: int, cls: str, x: float, y: float, n: int) -> list[list[Obj]]:
    return [[(tid, cls, x, y)] for _ in range(n)]


def empty(n: int) -> list[list[Obj]]:
    return [[] for _ in range(n)]


def phases(hits: list[tuple[int, RuleHit]]) -> list[tuple[int, str]]:
    return [(i, h.phase) for i, h in hits]


# Timings are explicit so the tables do not move when tuned defaults change.
TIMING = {"min_on_s": 0.5, "min_off_s": 1.5}
INTRUSION = {"type": "intrusion", "zone": "yard", "cooldown_s": 5, **TIMING}

# Person walks in from x=0 (outside), stands in the yard, walks out.
ENTER_STAY_LEAVE = (
    walk(1, "person", 0, 200, 21)
    + still_frames(1, "person", 200, 200, 30)
    + walk(1, "person", 200, 400, 21)
    + empty(20)
)

# Standing right at the border x=100, bottom centre hopping 95 <-> 105 every frame.
FLICKER = [[(1, "person", 95 if k % 2 else 105, 200)] for k in range(60)] + empty(30)


@pytest.mark.parametrize(
    ("name", "rules", "frames", "expected"),
    [
        # Inside from frame 10 (x=100) to 60 (x=290): start after min_on 0.5 s,
        # end after min_off 1.5 s.
        ("enter-leave", [INTRUSION], ENTER_STAY_LEAVE, [(15, "start"), (75, "end")]),
        ("never enters", [INTRUSION], walk(1, "person", 0, 90, 40), []),
        (
            "other class",
            [INTRUSION],
            ENTER_STAY_LEAVE[:1] + still_frames(1, "dog", 200, 200, 40),
            [],
        ),
        (
            "car class asked",
            [{**INTRUSION, "classes": ["car"]}],
            still_frames(1, "car", 200, 200, 20),
            [(5, "start"), (20, "end")],
        ),
        # A few frames inside is below min_on: no event.
        ("brief pass", [INTRUSION], [[(1, "person", 150, 200)]] * 3 + empty(30), []),
        # Flicker across the border: one event, not one per re-entry.
        ("border flicker", [INTRUSION], FLICKER, [(6, "start"), (73, "end")]),
        # Disappears (occlusion / missed detections) for 1 s: same event goes on.
        (
            "short gap",
            [INTRUSION],
            still_frames(1, "person", 200, 200, 20)
            + empty(10)
            + still_frames(1, "person", 200, 200, 20)
            + empty(20),
            [(5, "start"), (64, "end")],
        ),
    ],
)
def test_intrusion(
    name: str, rules: list[dict[str, Any]], frames: list[list[Obj]], expected: list[tuple[int, str]]
) -> None:
    hits = run(rules, frames)
    assert phases(hits) == expected, name
    assert len({h.key for _, h in hits}) == min(1, len(hits))
    for _, h in hits:
        assert (h.rule, h.category, h.zone, h.track_id) == ("intrusion", "intrusion", "yard", 1)


def test_intrusion_end_carries_interval() -> None:
    hits = run([INTRUSION], ENTER_STAY_LEAVE)
    (_, start), (_, end) = hits
    assert start.key == end.key
    assert start.start == end.start == at(10)
    assert end.end == at(60)


def test_intrusion_cooldown_suppresses_same_track_only_for_cooldown() -> None:
    visit = still_frames(1, "person", 200, 200, 20) + empty(20)
    # Second visit 2 s after the end (inside a 5 s cooldown) is quiet; a third after
    # the cooldown is a new event with a new key.
    frames = visit + visit + empty(40) + visit
    hits = run([INTRUSION], frames)
    assert phases(hits) == [(5, "start"), (34, "end"), (125, "start"), (154, "end")]
    assert hits[0][1].key != hits[2][1].key


def test_intrusion_two_people_two_events() -> None:
    frames = [[(1, "person", 150, 200), (2, "person", 250, 200)] for _ in range(20)]
    hits = run([INTRUSION], frames)
    assert sorted((h.track_id, h.phase) for _, h in hits) == [
        (1, "end"),
        (1, "start"),
        (2, "end"),
        (2, "start"),
    ]


def test_intrusion_per_zone_is_one_event_for_many() -> None:
    frames = (
        [[(1, "person", 150, 200)]] * 10
        + [[(1, "person", 150, 200), (2, "person", 250, 200)]] * 10
        + [[(2, "person", 250, 200)]] * 10
    )
    hits = run([{**INTRUSION, "per": "zone"}], frames)
    assert phases(hits) == [(5, "start"), (30, "end")]


@pytest.mark.parametrize(
    ("local", "schedule", "fires"),
    [
        ("10:00", {"start": "08:00", "end": "18:00"}, True),
        ("20:00", {"start": "08:00", "end": "18:00"}, False),
        ("23:30", {"start": "22:00", "end": "06:00"}, True),  # spans midnight
        ("05:59", {"start": "22:00", "end": "06:00"}, True),
        ("06:00", {"start": "22:00", "end": "06:00"}, False),
        ("12:00", {"start": "22:00", "end": "06:00"}, False),
        ("23:59", {"start": "00:00", "end": "24:00"}, True),
    ],
)
def test_intrusion_schedule_in_shanghai_time(
    local: str, schedule: dict[str, str], fires: bool
) -> None:
    h, m = map(int, local.split(":"))
    t0 = datetime(2026, 6, 1, h, m, tzinfo=TZ).astimezone(UTC)
    hits = run([{**INTRUSION, "schedule": schedule}], still_frames(1, "person", 200, 200, 8), t0)
    assert bool(hits) is fires


def test_schedule_end_closes_open_event() -> None:
    # 17:59:58 local, schedule ends 18:00: the event ends though the person stays.
    t0 = datetime(2026, 6, 1, 17, 59, 58, tzinfo=TZ)
    rule = {**INTRUSION, "schedule": {"start": "08:00", "end": "18:00"}}
    hits = run([rule], still_frames(1, "person", 200, 200, 60), t0, flush=False)
    assert phases(hits) == [(5, "start"), (34, "end")]


LOITER = {"type": "loitering", "zone": "yard", "dwell_s": 3, **TIMING}


@pytest.mark.parametrize(
    ("name", "frames", "expected"),
    [
        ("short stay", still_frames(1, "person", 200, 200, 25) + empty(20), []),
        (
            "long stay",
            still_frames(1, "person", 200, 200, 50) + empty(20),
            [(30, "start"), (64, "end")],
        ),
        # Wandering inside the zone still counts as staying.
        ("wander", walk(1, "person", 150, 250, 50) + empty(20), [(30, "start"), (64, "end")]),
        # Leaving for 3 s restarts the clock: two short stays are no loitering.
        (
            "two short stays",
            still_frames(1, "person", 200, 200, 25)
            + empty(30)
            + still_frames(1, "person", 200, 200, 25),
            [],
        ),
        (
            "flicker at border",
            [[(1, "person", 95 if k % 2 else 105, 200)] for k in range(50)],
            [(30, "start"), (50, "end")],
        ),
    ],
)
def test_loitering(name: str, frames: list[list[Obj]], expected: list[tuple[int, str]]) -> None:
    hits = run([LOITER], frames)
    assert phases(hits) == expected, name
    for _, h in hits:
        assert h.category == "loitering" and h.start == at(0)


CROWD = {"type": "crowding", "zone": "yard", "min_count": 3, "min_duration_s": 2, **TIMING}


def group(n: int, frames: int, x: float = 150) -> list[list[Obj]]:
    return [[(k + 1, "person", x + 20 * k, 200) for k in range(n)] for _ in range(frames)]


@pytest.mark.parametrize(
    ("name", "frames", "expected"),
    [
        ("two are no crowd", group(2, 50), []),
        ("three for 3 s", group(3, 30) + group(2, 30), [(20, "start"), (44, "end")]),
        ("three for 1 s only", group(3, 10) + group(1, 30), []),
        # The count dips to 2 for 0.5 s (someone hidden): still one crowd.
        (
            "dip",
            group(4, 30) + group(2, 5) + group(4, 30) + empty(20),
            [(20, "start"), (79, "end")],
        ),
        # Outside the zone (x 400+) nobody counts.
        ("outside", group(5, 40, x=400), []),
    ],
)
def test_crowding(name: str, frames: list[list[Obj]], expected: list[tuple[int, str]]) -> None:
    hits = run([CROWD], frames)
    assert phases(hits) == expected, name
    if hits:
        assert hits[-1][1].category == "crowding"
        assert int(hits[-1][1].extra["peak_count"]) >= 3


def test_crowding_cooldown() -> None:
    burst = group(3, 30) + empty(16)
    hits = run([{**CROWD, "cooldown_s": 10}], burst + burst + empty(100) + burst)
    assert phases(hits) == [(20, "start"), (44, "end"), (212, "start"), (236, "end")]


PARK = {"type": "parking", "zone": "yard", "stationary_s": 5, "min_off_s": 3}
# A car drives in, stops at (200, 200) for 10 s, drives out; parking ends min_off_s (3 s)
# after it starts moving.
PARK_AND_GO = (
    walk(7, "car", 0, 200, 20)
    + still_frames(7, "car", 200, 200, 100)
    + walk(7, "car", 200, 450, 20)
    + empty(40)
)


@pytest.mark.parametrize(
    ("name", "frames", "expected"),
    [
        ("parks and leaves", PARK_AND_GO, [(69, "start"), (150, "end")]),
        (
            "stops briefly",
            walk(7, "car", 0, 200, 20)
            + still_frames(7, "car", 200, 200, 30)
            + walk(7, "car", 200, 450, 20),
            [],
        ),
        ("drives through", walk(7, "car", 0, 450, 60), []),
        ("person is no vehicle", still_frames(7, "person", 200, 200, 100), []),
        ("parks outside zone", still_frames(7, "truck", 400, 200, 100), []),
        # Box jitter of 3 px while parked does not end the event.
        (
            "jitter",
            [[(7, "bus", 200 + (3 if k % 3 else 0), 200)] for k in range(120)] + empty(40),
            [(50, "start"), (149, "end")],
        ),
    ],
)
def test_parking(name: str, frames: list[list[Obj]], expected: list[tuple[int, str]]) -> None:
    hits = run([PARK], frames)
    assert phases(hits) == expected, name


def test_parking_is_one_event_dated_to_the_stop_and_closed_on_leaving() -> None:
    hits = run([PARK], PARK_AND_GO, flush=False)
    (_, start), (_, end) = hits
    assert start.category == "illegal_parking" and start.key == end.key
    assert start.start == at(19)  # the first frame at the parking spot
    assert end.end is not None and end.end <= at(121)


LINE = {"type": "line", "line": [[200, 0], [200, 400]], "cooldown_s": 5}


@pytest.mark.parametrize(
    ("name", "rule", "frames", "expected"),
    [
        # a→b points down the screen; its right-hand side on screen is x < 200.
        ("left to right is out", LINE, walk(1, "person", 100, 300, 20), ["out"]),
        ("right to left is in", LINE, walk(1, "person", 300, 100, 20), ["in"]),
        (
            "only in",
            {**LINE, "direction": "in"},
            walk(1, "person", 100, 300, 20) + walk(2, "person", 300, 100, 20),
            ["in"],
        ),
        ("no crossing", LINE, walk(1, "person", 100, 190, 20), []),
        # Crossing below the segment's end does not count.
        ("past the end", LINE, walk(1, "person", 100, 300, 20, y=500), []),
        # Jitter across the line: counted once per direction within the cooldown.
        (
            "jitter",
            LINE,
            [[(1, "person", 198 if k % 2 else 202, 200)] for k in range(30)],
            ["in", "out"],
        ),
        (
            "two people",
            LINE,
            [
                [(1, "person", 100 + 10 * k, 200), (2, "person", 300 - 10 * k, 150)]
                for k in range(20)
            ],
            ["out", "in"],
        ),
    ],
)
def test_line_crossing(
    name: str, rule: dict[str, Any], frames: list[list[Obj]], expected: list[str]
) -> None:
    hits = run([rule], frames)
    starts = [h for _, h in hits if h.phase == "start"]
    assert [h.extra["direction"] for h in starts] == expected, name
    assert len([h for _, h in hits if h.phase == "end"]) == len(starts)
    for h in starts:
        assert h.category == "line_crossing"


def test_line_counts_accumulate() -> None:
    frames = [[(k, "person", 100 + 20 * j, 200)] for k in range(1, 4) for j in range(11)]
    hits = run([LINE], frames)
    assert [h.extra["out"] for _, h in hits if h.phase == "start"] == [1, 2, 3]


LEFT = {"type": "left_behind", "zone": "yard", "stationary_s": 3, **TIMING}


def test_left_behind_after_owner_walks_away() -> None:
    # Person with a bag stands 2 s, walks away; the bag stays 6 s, then is picked up.
    frames: list[list[Obj]] = [
        [(1, "person", 200, 200), (5, "backpack", 215, 200)] for _ in range(20)
    ]
    frames += [[(1, "person", 200 + 20 * k, 200), (5, "backpack", 215, 200)] for k in range(1, 60)]
    frames += empty(40)
    hits = run([LEFT], frames)
    assert [(h.phase, h.track_id, h.category) for _, h in hits] == [
        ("start", 5, "abandoned_object"),
        ("end", 5, "abandoned_object"),
    ]
    # Owner near it until frame ~22; the rule fires once the bag stood 3 s and is alone.
    assert 28 <= hits[0][0] <= 40


def test_left_behind_not_while_owner_stays() -> None:
    frames = [[(1, "person", 200, 200), (5, "suitcase", 215, 200)] for _ in range(100)]
    assert run([LEFT], frames) == []


def test_fire_smoke_from_vision_classes() -> None:
    hits = run([{"type": "fire_smoke"}], still_frames(3, "smoke", 200, 200, 20))
    assert [(h.phase, h.category, h.severity) for _, h in hits] == [
        ("start", "fire_smoke", 1),
        ("end", "fire_smoke", 1),
    ]
    assert run([{"type": "fire_smoke"}], still_frames(3, "person", 200, 200, 20)) == []


def test_rules_are_independent() -> None:
    hits = run([INTRUSION, {**CROWD, "min_count": 2}, LOITER], ENTER_STAY_LEAVE)
    assert sorted({h.rule for _, h in hits}) == ["intrusion", "loitering"]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"type": "intrusion", "zone": "nope"}], "'nope' is not one of the zones"),
        ([{"type": "teleport"}], "does not match any of the expected tags"),
        ([{"type": "crowding", "min_count": 1}], "greater than or equal to 2"),
        ([{"type": "line", "line": [[1, 1], [1, 1]]}], "both ends at the same point"),
        ([{"type": "parking", "stationary": 5}], "Extra inputs are not permitted"),
    ],
)
def test_bad_rule_config_is_refused(rules: list[dict[str, Any]], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        CameraRulesConfig.model_validate({"zones": [ZONE], "rules": rules})
