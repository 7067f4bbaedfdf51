"""`GET /cases` and `GET /cases/{id}`: the case API's read side.

Reads the pool from ``request.app.state.pool`` (a ``psycopg_pool.AsyncConnectionPool``
opened in the app's lifespan). Scoping by role and the write actions come with
the case API issue; this router is the seam they extend.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from dispatch.lifecycle import Status

router = APIRouter(tags=["cases"])


class CaseSummary(BaseModel):
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
    accept_by: datetime | None
    resolve_by: datetime | None
    updated_at: datetime


class CaseEvent(BaseModel):
    event_id: UUID
    ts: datetime
    phase: str
    device_id: str | None
    rule: str | None
    score: float | None
    summary: str | None
    snapshot_sha256: str | None
    snapshot_ref: str | None


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    data: dict[str, Any]


class Participant(BaseModel):
    person: str
    name: str | None
    role: str
    area_id: str | None
    level: int
    added_at: datetime


class CaseDetail(CaseSummary):
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
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    events: list[CaseEvent]
    history: list[HistoryEntry]
    participants: list[Participant]


_SUMMARY_COLS = ", ".join(CaseSummary.model_fields)


@router.get("/cases", response_model=list[CaseSummary], summary="List cases, newest first")
async def list_cases(
    request: Request,
    status: Annotated[Status | None, Query(description="Only this status")] = None,
    unit: Annotated[str | None, Query(max_length=64, description="Only this unit id")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[int | None, Query(ge=1, description="Page: ids below this")] = None,
) -> list[dict[str, Any]]:
    where, args = ["TRUE"], []
    for clause, value in (
        ("status = %s", status.value if status else None),
        ("unit_id = %s", unit),
        ("category = %s", category),
        ("id < %s", before_id),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    sql = f"SELECT {_SUMMARY_COLS} FROM cases WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %s"
    async with request.app.state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, [*args, limit])
        return list(await cur.fetchall())


@router.get(
    "/cases/{case_id}",
    response_model=CaseDetail,
    summary="One case with its events, history and the people pulled in",
    responses={404: {"description": "No such case"}},
)
async def get_case(request: Request, case_id: int) -> dict[str, Any]:
    async with request.app.state.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT * FROM cases WHERE id = %s", (case_id,))
        case = await cur.fetchone()
        if case is None:
            raise HTTPException(404, f"case {case_id} not found")
        await cur.execute(
            "SELECT ce.event_id, ce.ts, ce.phase, e.device_id, e.rule, e.score, e.summary,"
            " e.snapshot_sha256, e.snapshot_ref FROM case_events ce"
            " LEFT JOIN events e ON e.event_id = ce.event_id AND e.ts = ce.ts"
            " WHERE ce.case_id = %s ORDER BY ce.ts",
            (case_id,),
        )
        case["events"] = await cur.fetchall()
        await cur.execute(
            "SELECT at, actor, action, from_status, to_status, note, data FROM case_history"
            " WHERE case_id = %s ORDER BY id",
            (case_id,),
        )
        case["history"] = await cur.fetchall()
        await cur.execute(
            "SELECT person, name, role, area_id, level, added_at FROM case_participants"
            " WHERE case_id = %s ORDER BY added_at, role, person",
            (case_id,),
        )
        case["participants"] = await cur.fetchall()
        return dict(case)
