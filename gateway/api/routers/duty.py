"""``/api/v1/duty``: the duty commander on duty now (or at ``at``), per roster.

The same function as ``gridwatch duty now`` and the escalation path
(``dispatch.duty.on_duty``). Any signed-in role sees who is on duty; the phone
number only the roles that call people (``Scope.phones``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError

from dispatch.duty import NoOneOnDuty, on_duty
from dispatch.errors import ConfigError
from gateway.api.deps import CurrentPerson, State, TownDep
from gateway.api.models.duty import DutyPublic
from gateway.api.params import IsoDateTime, id_query
from gateway.api.responses import ErrorPublic

router = APIRouter(prefix="/api/v1/duty", tags=["duty"])


@router.get(
    "",
    response_model=list[DutyPublic],
    responses={
        404: {"model": ErrorPublic, "description": "No such roster"},
        503: {"model": ErrorPublic, "description": "No duty roster configured"},
    },
)
def duty(
    state: State,
    town: TownDep,
    principal: CurrentPerson,
    roster: Annotated[str | None, id_query("Only this roster / 只看此值班表")] = None,
    at: Annotated[
        IsoDateTime | None, Query(description="At this time instead of now / 指定时间")
    ] = None,
) -> list[DutyPublic]:
    """Who is duty commander / 值班指挥长."""
    try:
        ctx = state.dispatch_context()
    except ConfigError as exc:
        raise HTTPException(503, f"dispatch config invalid / 派单配置无效: {exc}") from exc
    table = ctx.config.duty
    if table is None or not table.rosters:
        raise HTTPException(503, "no duty roster configured / 未配置值班表")
    if roster is not None and roster not in table.rosters:
        raise HTTPException(404, f"roster {roster!r} not found / 未找到值班表")
    when = at or state.clock.now()
    out: list[DutyPublic] = []
    for rid in [roster] if roster else sorted(table.rosters):
        spec = table.rosters[rid]
        try:
            found = on_duty(rid, spec, when, ctx.tz)
        except NoOneOnDuty:
            continue
        except ValueError as exc:
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("query", "at"), "msg": str(exc), "input": at}]
            ) from exc
        person = town.people.get(found.person)
        out.append(
            DutyPublic(
                roster=rid,
                roster_name=spec.name,
                roster_name_en=spec.name_en,
                person=found.person,
                name=person.name if person else found.person,
                phone=person.phone if person and principal.scope.phones else None,
                since=found.since,
                until=found.until,
                why=found.why,
                instead_of=found.instead_of,
                escalations=table.escalations == rid,
            )
        )
    return out
