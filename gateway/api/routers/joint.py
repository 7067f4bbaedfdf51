"""Joint cases over HTTP: department tasks and the consultation (dispatch/joint.py, consult.py).

- ``POST /api/v1/cases/{case_id}/tasks/{department}``: that department's staff accept
  or finish its task; the answer is the case after it (the last task done closes it);
- ``GET /api/v1/joint``: the open joint cases in the caller's scope, with their tasks
  and the last consultation message (the console's duty panel);
- ``GET /api/v1/cases/{case_id}/consultation``: the thread, oldest first, paged by id;
- ``POST /api/v1/cases/{case_id}/consultation``: a message, with attachments by
  reference, or (the duty commander) a decision; pushed live as ``consultation``.

Errors as on the actions route: 404 (no such case or task, or out of scope), 403,
409 (not a joint case, not from the task's status), 422, 429.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, status
from psycopg import sql
from psycopg.rows import class_row

from dispatch.consult import Attachment, MessageRow, messages, post
from dispatch.joint import task_action, tasks_of
from dispatch.lifecycle import OPEN_STATUSES
from dispatch.rows import column_list
from gateway.api import audit, idempotency
from gateway.api.deps import CurrentPerson, Db, State
from gateway.api.models.case_actions import Refused
from gateway.api.models.cases import CaseDetailPublic
from gateway.api.models.joint import (
    JointCasePublic,
    MessageIn,
    MessagePublic,
    TaskActionIn,
    TaskPublic,
)
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


#: ``GET /api/v1/joint``: a path of its own, as ``/api/v1/cases/{case_id}`` takes the rest.
listing = APIRouter(prefix="/api/v1/joint", tags=["cases"])

_UNDER_CONSULTATION = """
SELECT c.id, c.category, c.status, c.unit_id, c.opened_at,
       (SELECT count(*) FROM case_messages m WHERE m.case_id = c.id) AS messages
  FROM cases c
 WHERE c.status = ANY(%s) AND EXISTS (SELECT 1 FROM case_tasks t WHERE t.case_id = c.id)
 ORDER BY c.id DESC
 LIMIT %s
"""
_LAST_MESSAGE = sql.SQL(
    "SELECT {} FROM case_messages WHERE case_id = %s ORDER BY id DESC LIMIT 1"
).format(column_list(MessageRow))


@listing.get("", summary="Open joint cases under consultation, newest first")
def under_consultation(
    db: Db,
    who: CurrentPerson,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[JointCasePublic]:
    """Joint cases in your scope that are still open, with their tasks and the last
    consultation message / 会商中的联合案件."""
    statuses = sorted(s.value for s in OPEN_STATUSES)
    out: list[JointCasePublic] = []
    for cid, category, status_, unit, opened, count in db.execute(
        _UNDER_CONSULTATION, (statuses, limit)
    ).fetchall():
        with db.cursor(row_factory=class_row(MessageRow)) as cur:
            last = cur.execute(_LAST_MESSAGE, (cid,)).fetchone()
        out.append(
            JointCasePublic(
                id=cid, category=category, status=status_, unit_id=unit, opened_at=opened,
                tasks=[TaskPublic.model_validate(t) for t in tasks_of(db, cid)],
                messages=count,
                last_message=None if last is None else MessagePublic.model_validate(last),
            )
        )  # fmt: skip
    return out


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
