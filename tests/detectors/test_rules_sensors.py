"""Sensor rules: threshold with hysteresis, rate of change, stale sensor."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from detectors.sensors import SensorRules, SensorRulesConfig
from detectors.types import RuleHit

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def feed(
    rules: list[dict[str, Any]],
    values: Sequence[float | None],
    step_s: float = 60,
    sensor: str = "water_level",
) -> list[tuple[int, RuleHit]]:
    """One reading per step (None: no reading, only a timer tick)."""
    sr = SensorRules(SensorRulesConfig.model_validate({"rules": rules}), "dev-1")
    out: list[tuple[int, RuleHit]] = []
    for i, v in enumerate(values):
        ts = T0 + timedelta(seconds=i * step_s)
        if v is not None:
            out += [(i, h) for h in sr.reading(ts, sensor, v)]
        out += [(i, h) for h in sr.tick(ts)]
    return out


def phases(hits: list[tuple[int, RuleHit]]) -> list[tuple[int, str]]:
    return [(i, h.phase) for i, h in hits]


HIGH = {
    "type": "threshold",
    "sensor": "water_level",
    "above": 2.0,
    "hysteresis": 0.3,
    "cooldown_s": 0,
}


@pytest.mark.parametrize(
    ("name", "rule", "values", "expected"),
    [
        ("stays low", HIGH, [1.0, 1.5, 1.9, 2.0], []),
        ("rises and falls", HIGH, [1.0, 2.1, 2.5, 1.5], [(1, "start"), (3, "end")]),
        # Hovering around the limit inside the hysteresis band: one alarm, not four.
        ("hovers", HIGH, [1.0, 2.1, 1.9, 2.05, 1.8, 2.1, 1.6], [(1, "start"), (6, "end")]),
        (
            "below",
            {"type": "threshold", "sensor": "water_level", "below": 0.5, "hysteresis": 0.1},
            [1.0, 0.4, 0.55, 0.7],
            [(1, "start"), (3, "end")],
        ),
        # min_on: a single spike over the limit is ignored.
        (
            "spike",
            {**HIGH, "min_on_s": 90},
            [1.0, 2.4, 1.0, 2.4, 2.4, 2.4, 1.0],
            [(5, "start"), (6, "end")],
        ),
        ("other sensor", {**HIGH, "sensor": "smoke"}, [3.0, 3.0], []),
    ],
)
def test_threshold(
    name: str, rule: dict[str, Any], values: list[float | None], expected: list[tuple[int, str]]
) -> None:
    hits = feed([rule], values)
    assert phases(hits) == expected, name
    for _, h in hits:
        assert h.category == "sensor_alarm" and h.rule == "sensor_threshold"


def test_threshold_cooldown() -> None:
    rule = {**HIGH, "cooldown_s": 600}
    hits = feed([rule], [2.5, 1.0, 2.5, 1.0] + [1.0] * 10 + [2.5])
    assert phases(hits) == [(0, "start"), (1, "end"), (14, "start")]


def test_smoke_sensor_is_fire_smoke() -> None:
    rule = {"type": "threshold", "sensor": "smoke", "above": 0.5}
    hits = feed([rule], [0.1, 0.9], sensor="smoke")
    assert [(h.phase, h.category) for _, h in hits] == [("start", "fire_smoke")]
    assert hits[0][1].extra["value"] == 0.9


@pytest.mark.parametrize(
    ("direction", "values", "expected"),
    [
        ("both", [1.0, 1.1, 1.2, 3.0, 3.1], [(3, "start"), (4, "end")]),
        ("both", [3.0, 1.0, 1.0], [(1, "start"), (2, "end")]),
        ("up", [3.0, 1.0, 1.0], []),
        ("down", [1.0, 3.0], []),
    ],
)
def test_rate_of_change(
    direction: str, values: list[float | None], expected: list[tuple[int, str]]
) -> None:
    # 0.01 per second is 0.6 per one-minute step.
    rule = {
        "type": "rate",
        "sensor": "water_level",
        "max_per_s": 0.01,
        "direction": direction,
        "cooldown_s": 0,
    }
    assert phases(feed([rule], values)) == expected


def test_stale_sensor() -> None:
    rule = {"type": "stale", "sensor": "water_level", "max_silence_s": 150, "cooldown_s": 0}
    values: list[float | None] = [1.0, 1.0, None, None, None, None, 1.0, None]
    hits = feed([rule], values)
    # Last reading at step 1 (60 s); silent > 150 s from step 4 (240 s); back at step 6.
    assert phases(hits) == [(4, "start"), (6, "end")]
    assert hits[0][1].severity == 3 and hits[0][1].rule == "sensor_stale"


def test_never_seen_sensor_is_not_stale() -> None:
    rule = {"type": "stale", "sensor": "water_level", "max_silence_s": 10}
    assert feed([rule], [None] * 10) == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "threshold", "sensor": "x"}, "needs 'above' or 'below'"),
        ({"type": "threshold", "sensor": "x", "above": 1, "below": 2}, "must be less than"),
        ({"type": "rate", "sensor": "x", "max_per_s": 0}, "greater than 0"),
        ({"type": "stale", "sensor": "x"}, "max_silence_s"),
        ({"type": "guess", "sensor": "x"}, "does not match any of the expected tags"),
    ],
)
def test_bad_sensor_rule(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SensorRulesConfig.model_validate({"rules": [rule]})
