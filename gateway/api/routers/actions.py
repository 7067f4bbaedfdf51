"""``POST /api/v1/cases/{id}/actions/{action}``: a person acts on a case in their scope.

Each action goes through ``dispatch.actions.act`` with the caller as actor, in the
request's transaction as ``gridwatch_api``: a case outside the caller's scope is
not found (404), a transition the state machine refuses is 409 naming both, and
the action is in the audit log.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from dispatch.errors import CaseNotFound, TransitionError
from dispatch.lifecycle import Action
from gateway.api.deps import CurrentPerson, Db, State
from gateway.api.models.actions import ActionCreate
from gateway.api.models.cases import CaseDetailPublic
from gateway.api.routers.cases import CASE_ID
from gateway.auth.store import audit
from gateway.db.queries import get_case
from gridwatch.domain import Role

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

#: Roles that act on cases; the auditor, platforms and the device admin only read.
ACTING: frozenset[Role] = frozenset(
    {
        Role.DUTY_COMMANDER,
        Role.TOWN_LEADER,
        Role.VILLAGE_LEADER,
        Role.GRID_LEADER,
        Role.UNIT_LEADER,
        Role.DEPARTMENT_STAFF,
    }
)

#: What a person may ask for; ``assign`` (re-routing) needs a target and is the
#: dispatcher's and the duty commander's, not here yet.
CaseAction = StrEnum(  # type: ignore[misc]
    "CaseAction", {a.name: a.value for a in Action if a is not Action.ASSIGN}
)


@router.post(
    "/{case_id}/actions/{action}",
    response_model=CaseDetailPublic,
    responses={
        403: {"description": "This role does not act on cases"},
        404: {"description": "No such case, or not yours"},
        409: {"description": "Not allowed from the case's state"},
    },
)
def act_on_case(
    db: Db,
    state: State,
    principal: CurrentPerson,
    case_id: Annotated[int, CASE_ID],
    action: Annotated[CaseAction, Path(description="What to do / 操作")],
    body: ActionCreate | None = None,
) -> CaseDetailPublic:
    """Accept, start, resolve, rate, close, reject, reopen, mark duplicate / 案件办理."""
    from dispatch.actions import act

    if principal.role not in ACTING:
        raise HTTPException(403, f"role {principal.role.value} does not act on cases / 无权办理")
    body = body or ActionCreate.model_validate({})
    if get_case(db, case_id) is None:
        raise HTTPException(404, f"case {case_id} not found / 未找到案件")
    try:
        act(
            db,
            state.dispatch_context(),
            case_id,
            Action(action.value),
            principal.person_id or principal.subject,
            body.note,
            rating=body.rating,
            duplicate_of=body.duplicate_of,
            mediation_outcome=body.mediation_outcome,
        )
    except CaseNotFound as exc:
        raise HTTPException(404, f"{exc} / 未找到案件") from exc
    except TransitionError as exc:
        raise HTTPException(409, f"{exc} / 当前状态不允许此操作") from exc
    data: dict[str, Any] = body.model_dump(exclude_none=True)
    audit(db, principal.subject, f"case.{action.value}", str(case_id), data=data)
    after = get_case(db, case_id)
    assert after is not None
    return CaseDetailPublic.model_validate(after)
