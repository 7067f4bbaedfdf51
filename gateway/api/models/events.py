"""Events as the API shows them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from gateway.api.models.base import Public


class EventPublic(Public):
    """A stored event."""

    event_id: UUID
    ts: datetime = Field(description="Edge timestamp / 边缘设备时间")
    received_at: datetime = Field(description="Server receive time / 服务器接收时间")
    device_id: str
    seq: int
    rule: str
    category: str
    severity: int
    phase: str
    cls: str | None = None
    score: float | None = None
    track_id: int | None = None
    zone: str | None = None
    box: list[float] | None = None
    lon: float | None = None
    lat: float | None = None
    unit_id: str | None = None
    snapshot_sha256: str | None = None
    snapshot_ref: str | None = None
    summary: str | None = None
    clock_skewed: bool = Field(
        description="The box's clock was off; listed by receive time / 设备时钟偏差, 按接收时间排序"
    )
