"""HTTP endpoints: health, events, the hierarchy map, live push, the console pages."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Protocol
from uuid import UUID

import psycopg
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from gateway.web.live import LiveHub, sse_stream

router = APIRouter()


class IngestCounters(Protocol):
    def as_dict(self) -> dict[str, int]: ...


class IngestState(Protocol):
    """What /health reads from an ingest consumer running in the same process."""

    @property
    def mqtt_connected(self) -> bool: ...

    @property
    def writer_alive(self) -> bool: ...

    @property
    def stats(self) -> IngestCounters: ...


STATIC_DIR = Path(__file__).parent / "static"
MAX_EVENTS = 1000


class EventOut(BaseModel):
    """A stored event as the API shows it."""

    model_config = ConfigDict(extra="forbid")

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
    clock_skewed: bool


class HealthOut(BaseModel):
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


# What the dispatcher has not taken yet: a stopped or slow dispatcher shows here
# first, before any leader misses a case (migration 0006; no unnesting).
_BACKLOG = (
    "SELECT queued_for_dispatch(), extract(epoch FROM now() - min(enqueued_at))::float8"
    " FROM dispatch_batches"
)


EVENT_COLUMNS = ", ".join(n for n in EventOut.model_fields)


def events_query(
    *,
    device: str | None,
    unit: str | None,
    category: str | None,
    since: datetime | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """SQL and parameters for the event list, newest first (pure, so it is testable)."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("device_id", device), ("unit_id", unit), ("category", category)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if since is not None:
        where.append("ts >= %s")
        params.append(since)
    sql = f"SELECT {EVENT_COLUMNS} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY ts DESC LIMIT %s"
    params.append(limit)
    return sql, params


def _pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


@router.get("/health", response_model=HealthOut, tags=["health"])
async def health(request: Request) -> JSONResponse:
    """Database and MQTT state / 数据库与消息总线状态."""
    db_ok = False
    backlog: tuple[Any, ...] | None = None
    try:
        async with asyncio.timeout(2.0), _pool(request).connection(timeout=2.0) as conn:
            cur = await conn.execute(_BACKLOG)
            backlog = await cur.fetchone()
        db_ok = True
    except (psycopg.Error, TimeoutError, OSError):
        db_ok = False
    ingest: IngestState | None = request.app.state.ingest
    mqtt_ok = None if ingest is None else bool(ingest.mqtt_connected)
    writer_ok = None if ingest is None else bool(ingest.writer_alive)
    hub: LiveHub = request.app.state.live
    body = HealthOut(
        status="ok" if db_ok and mqtt_ok is not False and writer_ok is not False else "degraded",
        db=db_ok,
        mqtt=mqtt_ok,
        writer=writer_ok,
        live=hub.listening,
        live_clients=hub.clients,
        live_notifications=hub.stats.notifications,
        ingest=None if ingest is None else ingest.stats.as_dict(),
        dispatch_backlog=None if backlog is None else int(backlog[0]),
        dispatch_oldest_s=None if backlog is None or backlog[1] is None else float(backlog[1]),
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)


@router.get("/events", response_model=list[EventOut], tags=["events"])
async def list_events(
    request: Request,
    device: Annotated[str | None, Query(max_length=64, description="Device id")] = None,
    unit: Annotated[str | None, Query(max_length=128, description="Unit id / 单元")] = None,
    category: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[datetime | None, Query(description="Edge time lower bound")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
) -> list[EventOut]:
    """Latest events, newest first / 最新事件."""
    if since is not None and since.tzinfo is None:
        raise HTTPException(422, f"since={since.isoformat()} must carry a UTC offset")
    sql, params = events_query(
        device=device, unit=unit, category=category, since=since, limit=limit
    )
    async with _pool(request).connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.encode(), params)
        rows = await cur.fetchall()
    return [EventOut.model_validate(r) for r in rows]


@router.get("/api/hierarchy", tags=["hierarchy"])
async def hierarchy(request: Request) -> dict[str, Any]:
    """The town's areas as GeoJSON for the map / 辖区边界 GeoJSON."""
    town = request.app.state.town
    if town is None:
        return {"type": "FeatureCollection", "features": []}
    geo: dict[str, Any] = town.hierarchy.geojson()
    return geo


@router.get("/live", tags=["live"], response_class=StreamingResponse)
async def live(
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events: every new event and case change / 实时推送 (SSE).

    A reconnecting client sends ``Last-Event-ID`` and first gets what it missed.
    """
    hub: LiveHub = request.app.state.live
    sub = hub.subscribe(last_event_id)
    return StreamingResponse(
        sse_stream(hub, sub),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/", include_in_schema=False)
async def console() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")


@router.get("/docs", include_in_schema=False)
async def docs() -> FileResponse:
    return FileResponse(STATIC_DIR / "docs.html")
