"""Pydantic models of the town's YAML files and of the GeoJSON feature properties.

These are the boundary: everything read from disk passes through them, and
``extra="forbid"`` turns a typo in a key into a problem that names the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway.contract import DEVICE_ID_PATTERN
from gridwatch.camera_objects import ObjectsConfig
from gridwatch.camera_rules import CameraRulesConfig, RuleConfig, ZoneConfig
from gridwatch.fields import CategoryId
from gridwatch.homography import Homography

PostKind = Literal["leader", "liaison", "department_staff", "duty_commander", "sent_down_cadre"]

ID_PATTERN = r"^[^\s,]{1,64}$"  # opaque, but no commas or spaces: ids go into CSV lines
PHONE_PATTERN = r"^\+?[0-9][0-9 \-]{2,19}$"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactSpec(_Config):
    """A leader or liaison as written inline in the hierarchy GeoJSON."""

    name: str = Field(min_length=1, max_length=64, description="Person's name")
    phone: str = Field(pattern=PHONE_PATTERN, description="Phone number")
    person: str | None = Field(None, pattern=ID_PATTERN, description="Id in people.yaml")


class Post(_Config):
    """A post a person holds: leader of an area, liaison of a unit, staff of a department..."""

    kind: PostKind
    area: str | None = Field(None, pattern=ID_PATTERN, description="Area id for area posts")
    department: str | None = Field(None, pattern=ID_PATTERN, description="For department posts")

    @model_validator(mode="after")
    def _target(self) -> Post:
        if self.kind in ("leader", "liaison", "sent_down_cadre") and self.area is None:
            raise ValueError(f"a {self.kind} post needs an area")
        if self.kind == "department_staff" and self.department is None:
            raise ValueError("a department_staff post needs a department")
        return self


class Person(_Config):
    """Someone reports, rankings and logins refer to by ``id``."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(pattern=PHONE_PATTERN)
    roles: list[str] = Field(default_factory=list, description="e.g. leader, liaison, admin")
    posts: list[Post] = Field(default_factory=list)
    department: str | None = Field(None, pattern=ID_PATTERN)


class Department(_Config):
    """An office that owns some categories of problem."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=64, description="Chinese name")
    name_en: str = Field(min_length=1, max_length=64)
    categories: list[CategoryId] = Field(default_factory=list)
    contact: str = Field(pattern=ID_PATTERN, description="Person id of the contact")


class HomographyPoint(_Config):
    """A pixel of the detect stream and the map position it shows."""

    px: tuple[float, float]
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


def fit_homography(points: Sequence[HomographyPoint]) -> Homography:
    """The camera's pixel-to-map homography; HomographyError (a ValueError) says why not."""
    return Homography.from_points([p.px for p in points], [(p.lon, p.lat) for p in points])


def _fits(points: list[HomographyPoint]) -> list[HomographyPoint]:
    fit_homography(points)
    return points


#: A camera's reference points, refused at load time unless they give a usable homography.
HomographyPoints = Annotated[
    list[HomographyPoint],
    Field(min_length=4, description="Pixels of the detect stream and their map positions"),
    AfterValidator(_fits),
]


STREAM_SCHEMES = ("rtsp://", "http://", "https://", "file://", "asset://")


class Device(_Config):
    """A camera or a sensor, bound to one unit."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(pattern=DEVICE_ID_PATTERN)
    kind: Literal["camera", "sensor"]
    unit: str = Field(pattern=ID_PATTERN)
    name: str | None = Field(None, max_length=64)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    stream: str | None = Field(
        None, description="Main/detect URL: rtsp, http(s), file, or asset://NAME in the cache"
    )
    substream: str | None = None
    sensor_type: str | None = Field(None, max_length=32, description="e.g. smoke, water_level")
    category: CategoryId | None = Field(None, description="Category of a sensor's alarms")
    maintainer: str | None = Field(None, pattern=ID_PATTERN, description="Person id")
    detect_fps: float = Field(5.0, gt=0, le=30)
    zones: list[ZoneConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    objects: ObjectsConfig = Field(
        default_factory=lambda: ObjectsConfig.model_validate({}),
        description="Which objects the rules count: confirmation, masks, filters",
    )
    homography: HomographyPoints | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Device:
        for name in ("stream", "substream"):
            url = getattr(self, name)
            if url is not None and not url.startswith(STREAM_SCHEMES):
                raise ValueError(f"{name} {url!r} must start with one of {STREAM_SCHEMES}")
        if self.kind == "camera" and self.stream is None:
            raise ValueError("a camera needs a stream")
        if self.kind == "sensor" and self.sensor_type is None:
            raise ValueError("a sensor needs a sensor_type")
        # The same cross-check of rule zones the edge runs.
        CameraRulesConfig(
            zones=self.zones,
            rules=self.rules,
            objects=self.objects,
            has_homography=self.homography is not None,
            frame_rate=self.detect_fps,
        )
        return self

    @property
    def asset(self) -> str | None:
        """The asset name for ``asset://NAME`` streams, else None."""
        if self.stream is not None and self.stream.startswith("asset://"):
            return self.stream.removeprefix("asset://")
        return None
