"""``/api/v1/reports``: cases raised by residents and Party members (source ``report``).

Submission is Open311's (``/open311/v2/``); this is the read side, scoped like cases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from dispatch.lifecycle import Status
from gateway.api.deps import Db
from gateway.api.models.cases import CaseDetailPublic, CasePublic
from gateway.api.params import id_query
from gateway.api.routers.cases import CASE_ID
from gateway.db.queries import CaseFilter, get_case, list_cases

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get("")
def reports(
    db: Db,
    status: Annotated[Status | None, Query()] = None,
    category: Annotated[str | None, id_query("Only this category")] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[CasePublic]:
    """Residents' reports, newest first / 群众上报."""
    rows = list_cases(
        db,
        CaseFilter(
            source="report",
            status=None if status is None else status.value,
            category=category,
            before_id=cursor,
            now=datetime.now(UTC),
            limit=limit,
        ),
    )
    return [CasePublic.model_validate(r) for r in rows]


@router.get("/{case_id}", responses={404: {"description": "None"}})
def report(db: Db, case_id: Annotated[int, CASE_ID]) -> CaseDetailPublic:
    found = get_case(db, case_id)
    if found is None or found.source != "report":
        raise HTTPException(404, f"report {case_id} not found / 未找到上报")
    return CaseDetailPublic.model_validate(found)
