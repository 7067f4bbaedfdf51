"""Config shapes of one camera's zones and rules (pixels of its detect stream).

The town's ``devices.yaml`` camera entries and the edge config embed them, and
the detectors build their rules from them; so this module imports only pydantic
(and the domain's words),
and the hierarchy can check a camera's rules without loading detector code.
``RuleConfig`` is a union discriminated on ``type``; every default here is the one
the shipped evaluation (``gridwatch eval``) was scored with.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridwatch.camera_objects import ObjectsConfig
from gridwatch.fields import CategoryId

Point = tuple[float, float]

VEHICLES = ["car", "truck", "bus", "motorcycle"]
LEFT_OBJECTS = ["backpack", "handbag", "suitcase"]


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
    category: CategoryId | None = Field(
        None, description="Problem category; defaults per rule type"
    )
    severity: int = Field(2, ge=1, le=4)
    cooldown_s: float = Field(30.0, ge=0, le=86400, description="Quiet time after an event ends")


class _TrackRule(_Rule):
    """A rule over tracked objects, with hysteresis against flicker at a zone border."""

    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    min_confidence: float = Field(0.4, ge=0, le=1)
    schedule: Schedule | None = None
    min_on_s: float = Field(
        1.0, ge=0, le=3600, description="The condition must hold this long before an event starts"
    )
    cooldown_s: float = Field(
        0.0,
        ge=0,
        le=86400,
        description="Quiet time after an event ends; hysteresis already absorbs flicker, and "
        "the dispatcher merges repeats into one case",
    )
    min_off_s: float = Field(
        1.5, ge=0, le=3600, description="The condition must be gone this long before it ends"
    )


class IntrusionRule(_TrackRule):
    """An object of one of ``classes`` inside the zone during the schedule."""

    type: Literal["intrusion"] = "intrusion"
    per: Literal["object", "zone"] = Field(
        "object",
        description="object: one event per tracked object; zone: one event while the zone "
        "holds any such object",
    )


class LoiteringRule(_TrackRule):
    """One object staying in the zone longer than ``dwell_s``."""

    type: Literal["loitering"] = "loitering"
    dwell_s: float = Field(60.0, gt=0, le=86400)


class CrowdingRule(_TrackRule):
    """At least ``min_count`` objects in the zone for ``min_duration_s``."""

    type: Literal["crowding"] = "crowding"
    min_count: int = Field(5, ge=2, le=1000)
    min_duration_s: float = Field(3.0, ge=0, le=86400)


class _StillRule(_TrackRule):
    """A rule about an object that stopped moving."""

    move_tolerance: float = Field(
        0.15, gt=0, le=2, description="Drift allowed while stationary, as a share of box width"
    )


class ParkingRule(_StillRule):
    """A vehicle standing still in the zone longer than ``stationary_s``.

    One event when parking starts (dated back to when it stopped), ended when it leaves.
    """

    type: Literal["parking"] = "parking"
    classes: list[str] = Field(default_factory=lambda: list(VEHICLES), min_length=1)
    stationary_s: float = Field(10.0, gt=0, le=86400)
    min_off_s: float = Field(3.0, ge=0, le=3600)


class LineRule(_Rule):
    """Objects crossing the segment a→b; ``in`` is from the left of a→b to its right, as
    drawn on screen (walking from a to b, your right hand points in)."""

    type: Literal["line"] = "line"
    line: tuple[Point, Point]
    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    min_confidence: float = Field(0.4, ge=0, le=1)
    direction: Literal["in", "out", "both"] = "both"
    schedule: Schedule | None = None

    @model_validator(mode="after")
    def _segment(self) -> LineRule:
        if self.line[0] == self.line[1]:
            raise ValueError(f"line {self.line} has both ends at the same point")
        return self


class LeftBehindRule(_StillRule):
    """A non-person object standing still for ``stationary_s`` with no person near it."""

    type: Literal["left_behind"] = "left_behind"
    classes: list[str] = Field(default_factory=lambda: list(LEFT_OBJECTS), min_length=1)
    stationary_s: float = Field(30.0, gt=0, le=86400)
    owner_radius: float = Field(
        2.0, gt=0, le=20, description="A person within this many object heights counts as owner"
    )
    min_confidence: float = Field(0.3, ge=0, le=1)


class FireSmokeRule(_TrackRule):
    """Fire or smoke classes of a model that has them (the COCO models do not)."""

    type: Literal["fire_smoke"] = "fire_smoke"
    classes: list[str] = Field(default_factory=lambda: ["fire", "smoke"], min_length=1)
    severity: int = Field(1, ge=1, le=4)
    per: Literal["object", "zone"] = "zone"


class TamperRule(_Rule):
    """Video diagnosis on whole frames: covered or black, defocused, moved."""

    type: Literal["tamper"] = "tamper"
    dark_mean: float = Field(25.0, ge=0, le=255, description="Mean grey below this is dark")
    flat_std: float = Field(12.0, ge=0, le=128, description="Grey std below this is covered")
    blur_ratio: float = Field(
        0.35, gt=0, lt=1, description="Sharpness below this share of the baseline is defocus"
    )
    shift_px: float = Field(
        24.0, gt=0, le=1000, description="A view shift over this many pixels means moved"
    )
    learn_frames: int = Field(10, ge=1, le=10000, description="Frames that set the baseline")
    min_on_s: float = Field(2.0, ge=0, le=3600)
    min_off_s: float = Field(2.0, ge=0, le=3600)
    severity: int = Field(1, ge=1, le=4)


RuleConfig = Annotated[
    IntrusionRule
    | LoiteringRule
    | CrowdingRule
    | ParkingRule
    | LineRule
    | LeftBehindRule
    | FireSmokeRule
    | TamperRule,
    Field(discriminator="type"),
]


class CameraRulesConfig(_Config):
    """Every zone and rule of one camera, cross-checked: each rule (and zone filter) names
    a known zone. ``objects`` says which objects count (:mod:`gridwatch.camera_objects`);
    its filters may be in metres only where ``has_homography``."""

    zones: list[ZoneConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    objects: ObjectsConfig = Field(default_factory=lambda: ObjectsConfig.model_validate({}))
    has_homography: bool = Field(False, description="The camera maps pixels to the ground")
    frame_rate: float = Field(
        10.0, gt=0, le=120, description="Frames per second that reach the rules (tracker tuning)"
    )

    @model_validator(mode="after")
    def _zones_known(self) -> CameraRulesConfig:
        names = [z.name for z in self.zones]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"zone names {sorted(dupes)} are used more than once")
        for i, rule in enumerate(self.rules):
            if rule.zone is not None and rule.zone not in names:
                raise ValueError(f"rules[{i}].zone {rule.zone!r} is not one of the zones {names}")
        for i, filt in enumerate(self.objects.filters):
            if filt.zone is not None and filt.zone not in names:
                raise ValueError(
                    f"objects.filters[{i}].zone {filt.zone!r} is not one of the zones {names}"
                )
        metric = self.objects.metric_filters()
        if metric and not self.has_homography:
            raise ValueError(
                f"objects.filters{metric} are in metres (unit: m), but the camera has no "
                "homography: give its reference points, or sizes in pixels"
            )
        return self
