"""``/api/v1/events``: stored events, latest first, and one event."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request

from gateway.api import audit
from gateway.api.deps import CurrentPerson, Db
from gateway.api.models.events import EventPublic
from gateway.api.models.snapshots import SnapshotPublic
from gateway.api.params import IsoDateTime, id_query
from gateway.db.queries import EventFilter, get_event, list_events

router = APIRouter(prefix="/api/v1/events", tags=["events"])

MAX_EVENTS = 1000


@router.get("")
def events(
    db: Db,
    device: Annotated[str | None, id_query("Device id / 设备")] = None,
    unit: Annotated[str | None, id_query("Unit id / 单元")] = None,
    category: Annotated[str | None, id_query("Category / 类别")] = None,
    since: Annotated[
        IsoDateTime | None,
        Query(description="From this time (ISO 8601 with offset); receive time for skewed clocks"),
    ] = None,
    until: Annotated[IsoDateTime | None, Query(description="Before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
) -> list[EventPublic]:
    """Latest first: edge time, or receive time for a skewed clock / 最新事件."""
    rows = list_events(
        db,
        EventFilter(
            device=device,
            unit=unit,
            category=category,
            since=since,
            until=until,
            limit=limit,
        ),
    )
    return [EventPublic.model_validate(r) for r in rows]


@router.get("/{event_id}", responses={404: {"description": "None"}})
def event(db: Db, event_id: UUID) -> EventPublic:
    """One event / 单个事件."""
    row = get_event(db, event_id)
    if row is None:
        raise HTTPException(404, f"event {event_id} not found / 未找到事件")
    return EventPublic.model_validate(row)


@router.get(
    "/{event_id}/snapshot",
    responses={404: {"description": "No such event, or no snapshot"}},
)
def snapshot(db: Db, principal: CurrentPerson, request: Request, event_id: UUID) -> SnapshotPublic:
    """An event's snapshot evidence; every view is in the audit log / 快照 (留痕)."""
    row = get_event(db, event_id)
    if row is None or row.snapshot_sha256 is None:
        raise HTTPException(404, f"snapshot of event {event_id} not found / 未找到快照")
    audit.record(db, principal, "snapshot.view", f"event:{event_id}", request)
    return SnapshotPublic(event_id=row.event_id, sha256=row.snapshot_sha256, ref=row.snapshot_ref)
