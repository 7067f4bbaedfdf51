"""``POST /api/v1/cases/{case_id}/actions``: people act on their cases.

The body names the action (``accept``, ``resolve``, ``follow_up`` ...; see
``gateway.api.models.case_actions``). Each runs ``dispatch.actions.act`` with the
authenticated person as the actor, in the request's transaction, which also holds
the idempotency key and the audit row. The answer is the case after the action.

- 404: no such case, or outside the caller's scope (row-level security hides it);
- 403: this role may not take this action on this case (names role and action);
- 409: the action is not allowed in the case's status (names both, and what is);
- 422: a bad body or header, naming the field;
- 429: too many writes from this subject (``Retry-After``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from dispatch.actions import Photo, Reassign, act
from dispatch.errors import (
    ActionInputError,
    CalendarNotCovered,
    CaseNotFound,
    OpenTasks,
    PermissionDenied,
    TransitionError,
)
from dispatch.lifecycle import Status, allowed_actions
from dispatch.permissions import Actor
from dispatch.store import Context
from gateway.api import audit, idempotency
from gateway.api.deps import CurrentPerson, Db, State
from gateway.api.models.case_actions import (
    CaseAction,
    FollowUpAction,
    MakeJointAction,
    MergeAction,
    ReassignAction,
    Refused,
    ResolveAction,
)
from gateway.api.models.cases import CaseDetailPublic
from gateway.api.offered import actor_of, allowed_for
from gateway.api.responses import ErrorPublic
from gateway.api.routers.cases import CASE_ID
from gateway.api.throttle import retry_after
from gateway.db.queries import get_case

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

#: dispatch's names for the body's fields, where they differ.
_FIELDS = {
    "assign_to": "area_id",
    "duplicate_of": "into",
    "photo.sha256": "photos",
    "photo.ref": "photos",
}


def dispatch_context(state: State) -> Context:
    """The context case actions run in (``AppState.dispatch_context``); 503 without a town."""
    if state.town is None:
        raise HTTPException(503, "this gateway runs without a town config / 未加载城镇配置")
    return state.dispatch_context()


def limit_writes(who: CurrentPerson, state: State) -> None:
    """429 when this subject's write budget is spent (``gateway.api.throttle``)."""
    wait = state.writes.take(who.subject)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many writes from {who.subject}; retry in {retry_after(wait)} s / 操作过于频繁",
            headers={"Retry-After": retry_after(wait)},
        )


@router.post(
    "/{case_id}/actions",
    response_model=CaseDetailPublic,
    summary="Take an action on a case: accept, resolve, verify, follow up, return ...",
    responses={
        403: {"model": Refused, "description": "This role may not take this action here"},
        404: {"description": "No such case, or not yours to see"},
        409: {
            "model": Refused,
            "description": "Not allowed in the case's status; a joint case's open tasks",
        },
        429: {"description": "Too many writes; see Retry-After"},
        503: {
            "model": ErrorPublic,
            "description": "A fresh deadline needs a year the working calendar lacks",
        },
    },
)
def take_action(
    db: Db,
    who: CurrentPerson,
    state: State,
    request: Request,
    case_id: Annotated[int, CASE_ID],
    body: Annotated[CaseAction, Body()],
    key: idempotency.IdempotencyKey = None,
) -> Any:
    """Act on one case as the caller; the answer is the case after the action / 案件处置."""
    write = begin_write(db, who, state, request, body, key)
    if isinstance(write, idempotency.Replay):
        return write.response()
    _run(db, write.ctx, write.actor, case_id, body)
    return answer(db, who, state, request, case_id, f"case.{body.action}", write.claimed, key)


@dataclass(frozen=True, slots=True)
class Write:
    """A case write under way: its dispatch context, its actor and its idempotency claim."""

    ctx: Context
    actor: Actor
    claimed: idempotency.Claim | None


def begin_write(
    db: Db, who: CurrentPerson, state: State, request: Request, body: BaseModel, key: str | None
) -> Write | idempotency.Replay:
    """Throttle, claim the idempotency key for ``body``; the stored answer of a replay."""
    limit_writes(who, state)
    ctx = dispatch_context(state)
    payload = body.model_dump(mode="json")
    claimed = idempotency.claim(db, who.subject, key, "POST", request.url.path, payload)
    if isinstance(claimed, idempotency.Replay):
        return claimed
    assert state.town is not None  # dispatch_context refused a gateway without one
    return Write(ctx, actor_of(who, state.town), claimed)


def answer(
    db: Db,
    who: CurrentPerson,
    state: State,
    request: Request,
    case_id: int,
    action: str,
    claimed: idempotency.Claim | None,
    key: str | None,
) -> JSONResponse:
    """The case after a write, audited and kept for the idempotency key's replays."""
    found = get_case(db, case_id)
    if found is None:  # visible a moment ago, in this transaction
        raise HTTPException(404, f"case {case_id} not found / 未找到案件")
    out = CaseDetailPublic.model_validate(found).model_dump(mode="json")
    out["allowed_actions"] = allowed_for(who, state.town, found, joint=bool(found.tasks))
    audit.record(
        db,
        who,
        action,
        f"case:{case_id}",
        request,
        {"status": found.status, "idempotency_key": key},
    )
    idempotency.store(db, claimed, 200, out)
    return JSONResponse(out)


def _run(db: Db, ctx: Context, actor: Actor, case_id: int, body: CaseAction) -> None:
    """``act`` with the body's arguments; dispatch's errors as HTTP answers."""
    kwargs: dict[str, Any] = {}
    with refusals(case_id):
        match body:
            case ResolveAction():
                kwargs["photos"] = [Photo(p.sha256, p.ref) for p in body.photos]
                kwargs["mediation_outcome"] = body.mediation_outcome
            case FollowUpAction():
                kwargs["rating"] = body.rating
            case ReassignAction():
                kwargs["assign_to"] = Reassign.leader_of(ctx.town, body.area_id)
            case MergeAction():
                if db.execute("SELECT 1 FROM cases WHERE id = %s", (body.into,)).fetchone() is None:
                    raise ActionInputError("duplicate_of", body.into, "a case you can see")
                kwargs["duplicate_of"] = body.into
            case MakeJointAction():
                kwargs["departments"] = body.departments
            case _:
                pass
        act(db, ctx, case_id, body.action, actor, body.note, **kwargs)


@contextlib.contextmanager
def refusals(case_id: int) -> Iterator[None]:
    """dispatch's errors inside the block as HTTP answers: 404, 403, 409, 422, 503."""
    try:
        yield
    except CaseNotFound as exc:
        raise HTTPException(404, f"{exc} / 未找到案件") from exc
    except CalendarNotCovered as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    except PermissionDenied as exc:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {"msg": f"{exc} / 无权执行此操作", "role": exc.role, "action": exc.action},
        ) from exc
    except OpenTasks as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {
                "msg": f"{exc} / 尚有部门任务未完成",
                "status": exc.status,
                "action": exc.action,
                "open_tasks": exc.open_tasks,
            },
        ) from exc
    except TransitionError as exc:
        known = exc.status in {s.value for s in Status}
        allowed = [a.value for a in allowed_actions(exc.status)] if exc.status and known else []
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {
                "msg": f"{exc} / 当前状态不允许此操作",
                "status": exc.status,
                "action": exc.action,
                "allowed": allowed,
            },
        ) from exc
    except ActionInputError as exc:
        field = _FIELDS.get(exc.field, exc.field)
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", field),
                    "msg": f"{field}: {exc.value!r}, expected {exc.expected}",
                    "input": exc.value,
                }
            ]
        ) from exc
