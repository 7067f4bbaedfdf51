"""``/api/v1/devices`` and ``/api/v1/dead-letters``: device status; refused messages.

A device is the caller's when its unit is in their scope. Dead letters are the
device admin's: listed with the reason, and replayed one at a time after a fix.
"""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from gateway.api import audit
from gateway.api.deps import CurrentPerson, Db, SettingsDep, TownDep, require
from gateway.api.models.devices import DeadLetterPublic, DevicePublic, DeviceState, GeoPolygon
from gateway.api.params import id_query
from gateway.api.replay import ReplayError, publish_once
from gateway.auth.principal import Principal
from gateway.contract import DEVICE_ID_PATTERN
from gateway.db.queries import (
    DeviceStatusRow,
    dead_letter_payload,
    device_statuses,
    list_dead_letters,
    mark_replayed,
)
from gridwatch.domain import Role
from gridwatch.homography import Homography, field_of_view
from gridwatch.town import Device, Town

router = APIRouter(prefix="/api/v1", tags=["devices"])

DEVICE_ID = Path(pattern=DEVICE_ID_PATTERN, max_length=64, description="Device id / 设备")
DEAD_LETTER_ID = Path(ge=1, le=2**63 - 1, description="Dead letter id")


def _status(row: DeviceStatusRow | None) -> DeviceState:
    if row is None:
        return "unknown"
    if row.state != "online":
        return "offline"
    return "stale" if row.stale else "online"


def _public(device: Device, row: DeviceStatusRow | None) -> DevicePublic:
    return DevicePublic(
        id=device.id,
        kind=device.kind,
        name=device.name,
        unit_id=device.unit,
        lon=device.lon,
        lat=device.lat,
        field_of_view=view_of(device),
        status=_status(row),
        last_seen=row.last_seen if row else None,
        clock_offset_s=row.clock_offset_s if row else None,
        fps=row.fps if row else None,
        last_frame_ts=row.last_frame_ts if row else None,
        sw_version=row.sw_version if row else None,
        outbox_items=row.outbox_items if row else None,
        detail=row.detail if row else None,
    )


def view_of(device: Device) -> GeoPolygon | None:
    """The ground the camera's frame shows, where its homography gives it."""
    if device.homography is None:
        return None
    refs = tuple((p.px, p.lon, p.lat) for p in device.homography)
    zones = tuple(tuple(z.polygon) for z in device.zones)
    ring = _view(refs, zones)
    return None if ring is None else GeoPolygon(coordinates=[[list(p) for p in ring]])


@functools.cache
def _view(
    refs: tuple[tuple[tuple[float, float], float, float], ...],
    zones: tuple[tuple[tuple[float, float], ...], ...],
) -> list[tuple[float, float]] | None:
    # The config gives no frame size: the frame is what the reference points and the
    # zones span (in the shipped and synthesized towns the points are its corners).
    pixels = [px for px, _, _ in refs] + [p for zone in zones for p in zone]
    xs, ys = [p[0] for p in pixels], [p[1] for p in pixels]
    h = Homography.from_points([px for px, _, _ in refs], [(lon, lat) for _, lon, lat in refs])
    n = len(refs)
    ground = (sum(px[0] for px, _, _ in refs) / n, sum(px[1] for px, _, _ in refs) / n)
    ring = field_of_view(h, (min(xs), min(ys), max(xs), max(ys)), ground)
    return None if ring is None else [(round(x, 7), round(y, 7)) for x, y in ring]


def _mine(town: Town, principal: Principal) -> list[Device]:
    scope = principal.scope
    return sorted(
        (d for d in town.devices.values() if scope.covers_unit(d.unit)), key=lambda d: d.id
    )


@router.get("/devices")
def devices(
    db: Db,
    town: TownDep,
    principal: CurrentPerson,
    unit: Annotated[str | None, id_query("Only this unit")] = None,
    status: Annotated[DeviceState | None, Query(description="Only this status")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[DevicePublic]:
    """Your devices with their status / 设备状态."""
    mine = [d for d in _mine(town, principal) if unit is None or d.unit == unit]
    rows = {r.device_id: r for r in device_statuses(db, [d.id for d in mine])}
    out = [_public(d, rows.get(d.id)) for d in mine]
    return [d for d in out if status is None or d.status == status][:limit]


@router.get("/devices/{device_id}", responses={404: {"description": "None"}})
def device(
    db: Db, town: TownDep, principal: CurrentPerson, device_id: Annotated[str, DEVICE_ID]
) -> DevicePublic:
    found = town.devices.get(device_id)
    if found is None or not principal.scope.covers_unit(found.unit):
        raise HTTPException(404, f"device {device_id} not found / 未找到设备")
    rows = device_statuses(db, [device_id])
    return _public(found, rows[0] if rows else None)


@router.get(
    "/dead-letters",
    dependencies=[require(Role.DEVICE_ADMIN)],
)
def dead_letters(
    db: Db,
    device: Annotated[str | None, id_query("Only this device")] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="ids below this")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterPublic]:
    """Messages ingest refused, newest first, with the reason / 死信."""
    rows = list_dead_letters(db, device=device, before_id=cursor, limit=limit)
    return [DeadLetterPublic.model_validate(r) for r in rows]


@router.post(
    "/dead-letters/{dead_letter_id}/replay",
    responses={404: {"description": "None"}, 409: {"description": "Cannot be replayed"}},
)
def replay_dead_letter(
    db: Db,
    settings: SettingsDep,
    principal: Annotated[Principal, require(Role.DEVICE_ADMIN)],
    request: Request,
    dead_letter_id: Annotated[int, DEAD_LETTER_ID],
) -> DeadLetterPublic:
    """Publish a dead letter's message again after a fix / 重放死信."""
    found = dead_letter_payload(db, dead_letter_id)
    if found is None:
        raise HTTPException(404, f"dead letter {dead_letter_id} not found / 未找到")
    row, payload = found
    if row.payload_size > len(payload):
        raise HTTPException(
            409,
            f"dead letter {dead_letter_id} kept {len(payload)} of {row.payload_size} bytes;"
            " a cut message cannot be replayed / 消息已截断, 无法重放",
        )
    try:
        publish_once(settings, row.topic, payload)
    except ReplayError as exc:
        raise HTTPException(503, f"replay failed: {exc} / 重放失败") from exc
    mark_replayed(db, dead_letter_id, principal.subject)
    audit.record(db, principal, "dead_letter.replay", f"dead_letter:{dead_letter_id}", request)
    again = dead_letter_payload(db, dead_letter_id)
    assert again is not None
    return DeadLetterPublic.model_validate(again[0])
