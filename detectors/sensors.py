"""Sensor rules: threshold with hysteresis, rate of change, stale sensor.

Fed with one device's readings (``gateway.contract.Reading`` values or plain
``(ts, sensor, value)``); ``tick``, called on a timer, notices a silent sensor.
Smoke, fire and flame sensors default to the ``fire_smoke`` category, everything
else to ``sensor_alarm``. The edge runs them on each sensor's readings
(``edge/sensor_runner.py``). While an alarm holds, an ``update`` carries the
latest value every ``update_every_s``, so a case shows a water level still rising.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.config import DEFAULT_CATEGORY
from detectors.rules.base import Episodes, Subject
from detectors.types import RuleHit
from gridwatch.fields import CategoryId

FIRE_SENSORS = ("smoke", "fire", "flame")


class _Sensor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor: str = Field(min_length=1, max_length=64, description="Sensor channel, e.g. water_level")
    category: CategoryId | None = Field(None, description="Defaults to fire_smoke or sensor_alarm")
    severity: int = Field(2, ge=1, le=4)
    min_on_s: float = Field(0.0, ge=0, le=86400, description="Condition must hold this long")
    cooldown_s: float = Field(300.0, ge=0, le=86400)
    update_every_s: float | None = Field(
        300.0, gt=0, le=86400, description="While an alarm holds, an update this often; none: never"
    )

    def default_category(self) -> str:
        if self.category:
            return self.category
        if any(word in self.sensor.lower() for word in FIRE_SENSORS):
            return DEFAULT_CATEGORY["fire_smoke"]
        return DEFAULT_CATEGORY["sensor"]


class ThresholdRule(_Sensor):
    """Alarm above ``above`` or below ``below``; clear only ``hysteresis`` back inside."""

    type: Literal["threshold"] = "threshold"
    above: float | None = None
    below: float | None = None
    hysteresis: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _limits(self) -> ThresholdRule:
        if self.above is None and self.below is None:
            raise ValueError(f"threshold rule on {self.sensor!r} needs 'above' or 'below'")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError(f"below {self.below} must be less than above {self.above}")
        return self


class RateRule(_Sensor):
    """Alarm when the value changes faster than ``max_per_s`` (either direction)."""

    type: Literal["rate"] = "rate"
    max_per_s: float = Field(gt=0)
    direction: Literal["up", "down", "both"] = "both"


class StaleRule(_Sensor):
    """Alarm when no reading came for ``max_silence_s``."""

    type: Literal["stale"] = "stale"
    max_silence_s: float = Field(gt=0, le=7 * 86400)
    severity: int = Field(3, ge=1, le=4)


SensorRuleConfig = Annotated[ThresholdRule | RateRule | StaleRule, Field(discriminator="type")]


class SensorRulesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[SensorRuleConfig] = Field(default_factory=list)


SUMMARY = {
    "threshold": "传感器超限 sensor out of range",
    "rate": "传感器突变 sensor value changing fast",
    "stale": "传感器离线 sensor silent",
}


class _State:
    def __init__(self, cfg: SensorRuleConfig, index: int, device: str) -> None:
        self.cfg = cfg
        self.alarm = False
        self.last: tuple[datetime, float] | None = None
        self.last_hit: datetime | None = None
        self.episodes = Episodes(
            prefix=f"sensor{index}/{device}/{cfg.sensor}",
            rule=f"sensor_{cfg.type}",
            category=cfg.default_category(),
            severity=cfg.severity,
            zone=None,
            min_on_s=cfg.min_on_s,
            min_off_s=0.0,
            cooldown_s=cfg.cooldown_s,
            summary=SUMMARY[cfg.type],
        )


def threshold_alarm(cfg: ThresholdRule, value: float, alarm: bool) -> bool:
    """Next alarm state: enter past a limit, leave only ``hysteresis`` back inside it."""
    h = cfg.hysteresis if alarm else 0.0
    high = cfg.above is not None and value > cfg.above - h
    low = cfg.below is not None and value < cfg.below + h
    return high or low


def rate_alarm(cfg: RateRule, prev: tuple[datetime, float], ts: datetime, value: float) -> bool:
    dt = (ts - prev[0]).total_seconds()
    if dt <= 0:
        return False
    rate = (value - prev[1]) / dt
    if cfg.direction == "up":
        return rate > cfg.max_per_s
    if cfg.direction == "down":
        return -rate > cfg.max_per_s
    return abs(rate) > cfg.max_per_s


def due_update(every_s: float | None, last: datetime | None, ts: datetime) -> bool:
    """Whether an open alarm last reported at ``last`` is due an update at ``ts``."""
    return every_s is not None and last is not None and (ts - last).total_seconds() >= every_s


class SensorRules:
    """One device's sensor rules."""

    def __init__(self, cfg: SensorRulesConfig, device_id: str) -> None:
        self.device_id = device_id
        self._states = [_State(r, i, device_id) for i, r in enumerate(cfg.rules)]

    def reading(self, ts: datetime, sensor: str, value: float) -> list[RuleHit]:
        hits: list[RuleHit] = []
        for st in self._states:
            cfg = st.cfg
            if cfg.sensor != sensor:
                continue
            if isinstance(cfg, ThresholdRule):
                st.alarm = threshold_alarm(cfg, value, st.alarm)
            elif isinstance(cfg, RateRule):
                st.alarm = st.last is not None and rate_alarm(cfg, st.last, ts, value)
            else:
                st.alarm = False
            st.last = (ts, value)
            present = {cfg.sensor: Subject(extra={"value": value})} if st.alarm else {}
            found = st.episodes.step(ts, present)
            if not found and due_update(cfg.update_every_s, st.last_hit, ts):
                update = st.episodes.update(ts, cfg.sensor)
                found = [update] if update is not None else []
            if found:
                st.last_hit = ts
            hits += found
        return hits

    def tick(self, ts: datetime) -> list[RuleHit]:
        """Check for silent sensors; call every few seconds."""
        hits: list[RuleHit] = []
        for st in self._states:
            if not isinstance(st.cfg, StaleRule) or st.last is None:
                continue
            silent = (ts - st.last[0]).total_seconds()
            if silent > st.cfg.max_silence_s:
                extra: dict[str, float | int | str] = {"silent_s": round(silent, 1)}
                hits += st.episodes.step(ts, {st.cfg.sensor: Subject(extra=extra)})
        return hits
