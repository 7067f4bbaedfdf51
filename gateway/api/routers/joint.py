"""Joint cases over HTTP: department tasks and the consultation (dispatch/joint.py, consult.py).

- ``POST /api/v1/cases/{case_id}/tasks/{department}``: that department's staff accept
  or finish its task; the answer is the case after it (the last task done closes it);
- ``GET /api/v1/cases/{case_id}/consultation``: the thread, oldest first, paged by id;
- ``POST /api/v1/cases/{case_id}/consultation``: a message, with attachments by
  reference, or (the duty commander) a decision; pushed live as ``consultation``.

Errors as on the actions route: 404 (no such case or task, or out of scope), 403,
409 (not a joint case, not from the task's status), 422, 429.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, status

from dispatch.consult import Attachment, messages, post
from dispatch.joint import task_action
from gateway.api import audit, idempotency
from gateway.api.deps import CurrentPerson, Db, State
from gateway.api.models.case_actions import Refused
from gateway.api.models.cases import CaseDetailPublic
from gateway.api.models.joint import MessageIn, MessagePublic, TaskActionIn
from gateway.api.offered import actor_of
from gateway.api.routers.case_actions import (
    answer,
    dispatch_context,
    limit_writes,
    refusals,
)
from gateway.api.routers.cases import CASE_ID

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

DEPARTMENT = Path(
    min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="Department id"
)
_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"model": Refused, "description": "Not this department's staff, or not taking part"},
    404: {"description": "No such case or task, or not yours to see"},
    409: {"model": Refused, "description": "Not a joint case, or not from the task's status"},
    429: {"description": "Too many writes; see Retry-After"},
}


@router.post(
    "/{case_id}/tasks/{department}",
    response_model=CaseDetailPublic,
    summary="Accept or finish a department's task of a joint case",
    responses=_REFUSALS,
)
def task(
    db: Db,
    who: CurrentPerson,
    state: State,
    request: Request,
    case_id: Annotated[int, CASE_ID],
    department: Annotated[str, DEPARTMENT],
    body: Annotated[TaskActionIn, Body()],
    key: idempotency.IdempotencyKey = None,
) -> Any:
    """One step of a department's task; the answer is the case after it / 部门任务."""
    limit_writes(who, state)
    ctx = dispatch_context(state)
    payload = body.model_dump(mode="json")
    claimed = idempotency.claim(db, who.subject, key, "POST", request.url.path, payload)
    if isinstance(claimed, idempotency.Replay):
        return claimed.response()
    assert state.town is not None  # dispatch_context refused a gateway without one
    with refusals(case_id):
        task_action(db, ctx, case_id, department, body.action, actor_of(who, state.town), body.note)
    action = f"case.task_{body.action}:{department}"
    return answer(db, who, state, request, case_id, action, claimed, key)


@router.get(
    "/{case_id}/consultation",
    summary="A joint case's consultation: messages and decisions, oldest first",
    responses={404: _REFUSALS[404]},
)
def consultation(
    db: Db,
    who: CurrentPerson,
    case_id: Annotated[int, CASE_ID],
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Only messages after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[MessagePublic]:
    """The thread / 会商记录."""
    if db.execute("SELECT 1 FROM cases WHERE id = %s", (case_id,)).fetchone() is None:
        raise HTTPException(404, f"case {case_id} not found / 未找到案件")
    return [MessagePublic.model_validate(m) for m in messages(db, case_id, after, limit)]


@router.post(
    "/{case_id}/consultation",
    status_code=status.HTTP_201_CREATED,
    summary="Write in a joint case's consultation",
    responses=_REFUSALS,
)
def consult(
    case_id: Annotated[int, CASE_ID],
    body: Annotated[MessageIn, Body()],
    db: Db,
    who: CurrentPerson,
    state: State,
    request: Request,
) -> MessagePublic:
    """A message or a decision, pushed live to everyone taking part / 会商发言."""
    limit_writes(who, state)
    ctx = dispatch_context(state)
    assert state.town is not None  # dispatch_context refused a gateway without one
    files = [Attachment(a.sha256, a.name) for a in body.attachments]
    with refusals(case_id):
        row = post(db, ctx, case_id, actor_of(who, state.town), body.kind, body.body, files)
    audit.record(
        db, who, f"case.consult.{body.kind}", f"case:{case_id}", request, {"message": row.id}
    )
    return MessagePublic.model_validate(row)
