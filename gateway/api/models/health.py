"""/health's body."""

from __future__ import annotations

from pydantic import Field

from gateway.api.models.base import Public


class HealthPublic(Public):
    status: str = Field(description="ok or degraded")
    db: bool
    mqtt: bool | None = Field(description="None when this process runs no ingest consumer")
    writer: bool | None = Field(description="Ingest writer thread running; None without ingest")
    live: bool
    live_clients: int
    live_notifications: int
    ingest: dict[str, int] | None = None
    dispatch_backlog: int | None = Field(
        default=None, description="Stored events waiting for the dispatcher / 待派单事件数"
    )
    dispatch_oldest_s: float | None = Field(
        default=None,
        description="Seconds the oldest of them has waited; null when none / 最久等待秒数",
    )
