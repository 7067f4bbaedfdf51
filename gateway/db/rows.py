"""The columns of the gateway's stored events and device statuses, as frozen dataclasses.

The one home of those fields: ingest writes them with a few more
(``gateway.ingest.classify``), the queries read them with ``class_row``
(``gateway.db.queries``), and the API's response models take theirs from them
(``gateway.api.models``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class EventRow:
    """An ``events`` row as people read it: every column but ``extra``."""

    event_id: UUID
    ts: datetime
    received_at: datetime
    device_id: str
    seq: int
    rule: str
    category: str
    severity: int
    phase: str
    cls: str | None
    score: float | None
    track_id: int | None
    zone: str | None
    box: list[float] | None
    lon: float | None
    lat: float | None
    unit_id: str | None
    snapshot_sha256: str | None
    snapshot_ref: str | None
    summary: str | None
    clock_skewed: bool


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """The ``device_status`` columns that ingest writes and the live view shows alike."""

    device_id: str
    state: str
    ts: datetime
    last_seen: datetime
    fps: float | None
    last_frame_ts: datetime | None
    sw_version: str | None
    contract_version: str | None
    clock_offset_s: float | None
    outbox_items: int | None
    detail: str | None
