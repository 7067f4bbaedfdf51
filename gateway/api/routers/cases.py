"""``/api/v1/cases``: the case list and one case (the read side of the case API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from dispatch.lifecycle import Status
from gateway.api.deps import CurrentPerson, Db, GateDep, State
from gateway.api.models.cases import CaseDetailPublic, CasePublic
from gateway.api.offered import allowed_for
from gateway.api.params import IsoDateTime, id_query
from gateway.db.queries import CaseFilter, get_case
from gateway.db.queries.cases import list_cases_json_async

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

MAX_PAGE = 500
CASE_ID = Path(ge=1, le=2**63 - 1, description="Case id / 案件编号")


# The busiest read: async on the event loop (no thread-pool hop), it takes its
# connection itself and sends the JSON PostgreSQL built; ``response_model`` still
# documents the body, CaseSummary has CasePublic's fields, and tests/dispatch/test_api.py
# checks the body is what CasePublic would send.
@router.get("", response_model=list[CasePublic], summary="List cases, newest first")
async def cases(
    gate: GateDep,
    status: Annotated[Status | None, Query(description="Only this status")] = None,
    category: Annotated[str | None, id_query("Only this category")] = None,
    unit: Annotated[str | None, id_query("Only this unit id")] = None,
    grid: Annotated[str | None, id_query("Only this grid id")] = None,
    village: Annotated[str | None, id_query("Only this village id")] = None,
    department: Annotated[str | None, id_query("Only this department id")] = None,
    assignee: Annotated[
        str | None, id_query("Only cases this person must act on; 'mine' for yourself")
    ] = None,
    overdue: Annotated[bool | None, Query(description="Past a deadline still running")] = None,
    escalation_level: Annotated[int | None, Query(ge=0, le=3)] = None,
    opened_since: Annotated[IsoDateTime | None, Query(description="Opened at or after")] = None,
    opened_until: Annotated[IsoDateTime | None, Query(description="Opened before")] = None,
    cursor: Annotated[
        int | None,
        Query(ge=1, le=2**63 - 1, description="Page on: ids below this (X-Next-Cursor)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Response:
    """Cases, newest first; the ``X-Next-Cursor`` header pages on / 案件列表."""
    async with gate.open_async() as scoped:
        principal = scoped.principal
        page = await list_cases_json_async(
            scoped.conn,
            CaseFilter(
                status=None if status is None else status.value,
                category=category,
                unit=unit,
                grid=grid,
                village=village,
                department=department,
                assignee=(principal.person_id or "") if assignee == "mine" else assignee,
                escalation_level=escalation_level,
                overdue=overdue,
                now=gate.state.clock.now(),  # the app's clock: a test's ManualClock too
                opened_since=opened_since,
                opened_until=opened_until,
                before_id=cursor,
                limit=limit,
                # A person's own cases may lie outside their area (reassigned there).
                within=None if assignee == "mine" else principal.scope.bound,
            ),
        )
    full = page.count == limit and page.last_id is not None
    headers = {"X-Next-Cursor": str(page.last_id)} if full else None
    return Response(page.body, media_type="application/json", headers=headers)


@router.get(
    "/{case_id}",
    summary="One case with its events, history and the people pulled in",
    responses={404: {"description": "No such case, or not yours to see"}},
)
def case(
    db: Db, who: CurrentPerson, state: State, case_id: Annotated[int, CASE_ID]
) -> CaseDetailPublic:
    found = get_case(db, case_id)
    if found is None:
        raise HTTPException(404, f"case {case_id} not found / 未找到案件")
    detail = CaseDetailPublic.model_validate(found)
    allowed = allowed_for(who, state.town, found, joint=bool(found.tasks))
    return detail.model_copy(update={"allowed_actions": allowed})
