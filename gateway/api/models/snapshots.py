"""An event's snapshot evidence."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from gateway.api.models.base import Public


class SnapshotPublic(Public):
    event_id: UUID
    sha256: str = Field(description="SHA-256 of the JPEG the edge took / 快照哈希")
    ref: str | None = Field(description="Where the edge keeps it / 存储位置")
