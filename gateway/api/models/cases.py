"""Cases as the API shows them: the list row and the detail."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from dispatch.lifecycle import Status
from gateway.api.models.base import Public


class CasePublic(Public):
    """A case in a list."""

    id: int
    source: str
    category: str
    severity: int
    status: Status
    summary: str | None
    unit_id: str | None
    grid_id: str | None
    village_id: str | None
    town_id: str | None
    department_id: str | None
    assignee: str | None = Field(description="Person id of whoever must act")
    assignee_name: str | None
    escalation_level: int = Field(description="0 unit, 1 grid, 2 village, 3 town")
    recurrence: int = Field(description="Events and reports merged into the case")
    returns: int = Field(description="Times returned for rework (退回重办)")
    lon: float | None
    lat: float | None
    opened_at: datetime
    last_event_at: datetime
    accept_by: datetime | None = Field(description="Accept deadline / 受理期限")
    resolve_by: datetime | None = Field(description="Resolve deadline / 办结期限")
    next_escalation_at: datetime | None = Field(description="When it escalates next / 下次升级")
    updated_at: datetime


class CaseEventPublic(Public):
    event_id: UUID
    ts: datetime
    phase: str
    device_id: str | None
    rule: str | None
    score: float | None
    summary: str | None
    snapshot_sha256: str | None = Field(description="SHA-256 of the snapshot / 快照哈希")
    snapshot_ref: str | None


class HistoryPublic(Public):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    data: dict[str, Any]


class ParticipantPublic(Public):
    person: str
    name: str | None
    role: str
    area_id: str | None
    level: int
    added_at: datetime


class CaseDetailPublic(CasePublic):
    """One case with its events, history and the people pulled in."""

    description: str | None
    route_note: str | None
    escalated_to: str | None
    escalated_to_name: str | None
    reopens: int
    rejections: int
    duplicate_of: int | None
    mediation_outcome: str | None
    rating: int | None
    satisfied: bool | None
    raised_by: str | None
    device_id: str | None
    first_event_at: datetime
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    events: list[CaseEventPublic]
    history: list[HistoryPublic]
    participants: list[ParticipantPublic]
