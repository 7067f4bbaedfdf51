"""Config models for zones and rules on one camera (pixels of its detect stream).

These models are embedded in the town's ``devices.yaml`` camera entries, so a
typo in a zone or rule fails ``gridwatch config check``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Point = tuple[float, float]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneConfig(_Config):
    """A polygon in pixels of the detect stream; objects count by their bottom centre."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    polygon: list[Point] = Field(min_length=3, max_length=256)


class Schedule(_Config):
    """Active hours in GRIDWATCH_TZ, ``HH:MM``; start > end spans midnight."""

    start: str = Field("00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field("24:00", pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")


class _Rule(_Config):
    zone: str | None = Field(None, description="Zone name; None means the whole frame")
    category: str | None = Field(None, description="Problem category; defaults per rule type")
    severity: int = Field(2, ge=1, le=4)
    cooldown_s: float = Field(30.0, ge=0, le=86400, description="Quiet time after an event ends")


class IntrusionRule(_Rule):
    type: Literal["intrusion"] = "intrusion"
    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    min_confidence: float = Field(0.4, ge=0, le=1)
    schedule: Schedule | None = None


RuleConfig = Annotated[IntrusionRule, Field(discriminator="type")]


class CameraRulesConfig(_Config):
    zones: list[ZoneConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _zones_known(self) -> CameraRulesConfig:
        names = [z.name for z in self.zones]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"zone names {sorted(dupes)} are used more than once")
        for i, rule in enumerate(self.rules):
            if rule.zone is not None and rule.zone not in names:
                raise ValueError(f"rules[{i}].zone {rule.zone!r} is not one of the zones {names}")
        return self
