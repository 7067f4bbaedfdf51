"""Config shapes of which objects a camera's rules count: confirmation, masks, filters.

A detector's cut-off is not enough to raise a case: a sign post that YOLOX-Nano
reads as a person at 0.5, frame after frame, would be an intrusion all day. So a
track counts for a rule only once it is *confirmed* (Frigate's ``threshold``):
the median of its scores over the last ``window_s`` seconds reaches the class's
``threshold``, and,
for classes still things are mistaken for, it has moved ``min_move`` box heights.
*Masks* are pixel polygons where a class never counts; *filters* bound a class's
box area and aspect ratio, per camera or per zone, in pixels or (on a camera
with a homography) metres. Imports only pydantic, like ``gridwatch.camera_rules``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Point = tuple[float, float]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ClassConfirm(_Config):
    """When a track of one class is confirmed (and stays so for the rest of its life)."""

    threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="The median of the scores of the last `window_s` seconds must reach this",
    )
    window_s: float = Field(
        0.2,
        ge=0,
        le=30,
        description="Seconds of scores the median is taken over, by the frames' own times, so "
        "a camera detecting at 5 fps confirms as soon as one at 10 fps; a track seen for less "
        "is not confirmed yet; 0: its latest score alone",
    )
    min_move: float | None = Field(
        None,
        ge=0,
        le=100,
        description="Box heights the track's bottom centre must have moved from where it was "
        "first seen; None: standing still is fine",
    )
    still_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="A median this high confirms without moving (a person standing in plain "
        "view); None: min_move always applies",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_frames(cls, data: Any) -> Any:
        if isinstance(data, dict) and "frames" in data:
            raise ValueError(
                f"frames {data['frames']!r} is no longer read: the window is in seconds, "
                "window_s (the frames' own times, the same at any detect rate; 5 frames at "
                "10 fps is window_s 0.4)"
            )
        return data


#: Chosen on the vtest labels (docs/detectors.md, "Track confirmation").
DEFAULT_CONFIRM: dict[str, ClassConfirm] = {
    "person": ClassConfirm(threshold=0.6, window_s=0.4, min_move=0.25, still_threshold=0.7),
}
#: Classes not listed: their own scores only, as before confirmation existed.
DEFAULT_OTHER = ClassConfirm(threshold=0.3, window_s=0.0)


class ConfirmConfig(_Config):
    """Track confirmation per class; a class given here replaces its default only."""

    enabled: bool = Field(True, description="False: every track counts at once (tests, tuning)")
    classes: dict[str, ClassConfirm] = Field(
        default_factory=lambda: dict(DEFAULT_CONFIRM),
        description="Per class; classes left out keep their defaults",
    )
    other: ClassConfirm = Field(default=DEFAULT_OTHER, description="Classes with no entry")

    @field_validator("classes", mode="after")
    @classmethod
    def _keep_defaults(cls, value: dict[str, ClassConfirm]) -> dict[str, ClassConfirm]:
        return {**DEFAULT_CONFIRM, **value}

    def for_class(self, name: str) -> ClassConfirm:
        return self.classes.get(name, self.other)


def _polygon_area(polygon: list[Point]) -> float:
    n = len(polygon)
    twice = sum(
        polygon[i][0] * polygon[(i + 1) % n][1] - polygon[(i + 1) % n][0] * polygon[i][1]
        for i in range(n)
    )
    return abs(twice) / 2.0


class ObjectMask(_Config):
    """A pixel polygon of the detect stream where objects of ``classes`` are never counted
    (by the bottom centre of their box, as zones count them)."""

    classes: list[str] = Field(min_length=1, max_length=100)
    polygon: list[Point] = Field(min_length=3, max_length=256)

    @model_validator(mode="after")
    def _proper(self) -> ObjectMask:
        bad = [p for p in self.polygon if p[0] < 0 or p[1] < 0]
        if bad:
            raise ValueError(f"polygon points {bad} are negative: pixels start at 0")
        if _polygon_area(self.polygon) < 1.0:
            raise ValueError(f"polygon {self.polygon} encloses no area (points on one line)")
        return self


class ObjectFilter(_Config):
    """Bounds on a class's boxes: ``area`` is width times height, ``ratio`` width over
    height. ``unit: m`` measures them in metres on the ground through the camera's
    homography (the scale at the box's bottom edge)."""

    classes: list[str] = Field(min_length=1, max_length=100)
    zone: str | None = Field(None, description="Only for rules of this zone; None: everywhere")
    unit: Literal["px", "m"] = Field("px", description="px: pixels; m: metres (homography)")
    min_area: float | None = Field(None, ge=0, le=1e9)
    max_area: float | None = Field(None, gt=0, le=1e9)
    min_ratio: float | None = Field(None, gt=0, le=1000)
    max_ratio: float | None = Field(None, gt=0, le=1000)

    @model_validator(mode="after")
    def _bounds(self) -> ObjectFilter:
        limits = (self.min_area, self.max_area, self.min_ratio, self.max_ratio)
        if all(v is None for v in limits):
            raise ValueError(
                "a filter needs at least one of min_area, max_area, min_ratio, max_ratio"
            )
        for what in ("area", "ratio"):
            lo, hi = getattr(self, f"min_{what}"), getattr(self, f"max_{what}")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"min_{what} {lo} is above max_{what} {hi}")
        return self


class ObjectsConfig(_Config):
    """Which objects one camera's rules count (``objects:`` of a camera)."""

    confirm: ConfirmConfig = Field(default_factory=lambda: ConfirmConfig.model_validate({}))
    masks: list[ObjectMask] = Field(default_factory=list, max_length=100)
    filters: list[ObjectFilter] = Field(default_factory=list, max_length=100)

    def metric_filters(self) -> list[int]:
        """Indexes of the filters given in metres: the camera needs a homography for them."""
        return [i for i, f in enumerate(self.filters) if f.unit == "m"]
