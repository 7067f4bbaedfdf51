"""Devices and dead letters as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from gateway.api.models.base import Public, fields_of
from gateway.db.queries import DeadLetterRow

DeviceState = Literal["online", "offline", "stale", "unknown"]


class GeoPolygon(Public):
    """A GeoJSON polygon (RFC 7946): one exterior ring of WGS-84 lon/lat, anticlockwise."""

    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[list[float]]]


class DevicePublic(Public):
    """A device of the town's config with its latest status."""

    id: str
    kind: str
    name: str | None
    unit_id: str
    lon: float = Field(description="Where it is mounted / 位置 (WGS-84)")
    lat: float
    field_of_view: GeoPolygon | None = Field(
        None,
        description="A camera's view of the ground from its homography, up to 300 m from"
        " its reference points; none without one / 摄像头视场",
    )
    status: DeviceState = Field(
        description="online; offline (said so); stale (silent over 120 s); unknown (never seen)"
    )
    last_seen: datetime | None = Field(description="Server time of its last status / 最后上报")
    clock_offset_s: float | None = Field(description="Edge clock minus server clock / 时钟偏差")
    fps: float | None
    last_frame_ts: datetime | None
    sw_version: str | None
    outbox_items: int | None
    detail: str | None


@fields_of(DeadLetterRow)
class DeadLetterPublic(Public):
    """A message ingest refused, with the reason."""
