"""``/api/v1/reviews/{kind}``: the daily, weekly, monthly and fortnightly reports.

The same reports as ``gridwatch report`` (``dispatch.cadence``), read on the
request's scoped connection: row-level security keeps a village leader to the
village's cases, and the duty commander sees the town's. Nothing is recorded
here; the fortnight's record is written by the command.
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse

from dispatch.cadence.periods import PeriodKind
from dispatch.cadence.render import render_html
from dispatch.cadence.review import build, town_devices, town_names
from dispatch.errors import ConfigError
from gateway.api.deps import Db, State, require
from gateway.api.params import id_query
from gateway.auth.principal import Principal
from gridwatch.domain import Role

router = APIRouter(prefix="/api/v1/reviews", tags=["reviews"])

#: Who reads reports: the leaders of every level, departments, the commander, auditors.
READERS = (
    Role.DUTY_COMMANDER,
    Role.TOWN_LEADER,
    Role.VILLAGE_LEADER,
    Role.GRID_LEADER,
    Role.UNIT_LEADER,
    Role.DEPARTMENT_STAFF,
    Role.AUDITOR,
)
Reader = Annotated[Principal, require(*READERS)]
DayQuery = Annotated[
    date | None, Query(description="A day in the period, in GRIDWATCH_TZ (default: today)")
]
ScopeQuery = Annotated[str | None, id_query("Narrow to this area (unit, grid, village, town)")]
Lang = Annotated[Literal["zh", "en"] | None, Query(description="Language (GRIDWATCH_LANG)")]
_UNPROCESSABLE: dict[int | str, dict[str, Any]] = {
    422: {"description": "A date before the first fortnight, or a bad value"}
}


def _report(
    db: Db, who: Principal, state: State, kind: PeriodKind, day: date | None, scope: str | None
) -> dict[str, Any]:
    try:
        setup = state.review_setup()
    except (ConfigError, RuntimeError) as exc:
        raise HTTPException(503, f"report config unusable: {exc} / 报告配置不可用") from exc
    now = state.clock.now()
    try:
        return build(
            db,
            setup,
            kind,
            day or now.astimezone(setup.tz).date(),
            now if now.tzinfo else now.replace(tzinfo=UTC),
            area=scope,
            town_wide=who.scope.all,
            devices=town_devices(state.town) if state.town is not None else None,
        )
    except ValueError as exc:
        raise HTTPException(422, f"{exc} / 报告参数无效") from exc


@router.get("/{kind}", responses=_UNPROCESSABLE)
def review(
    db: Db,
    who: Reader,
    state: State,
    kind: PeriodKind,
    date: DayQuery = None,
    scope: ScopeQuery = None,
) -> dict[str, Any]:
    """A period's report as JSON (docs/reports.md) / 日报、周报、月报、双周排名."""
    return _report(db, who, state, kind, date, scope)


#: Not ``response_class=HTMLResponse``: FastAPI would then document the JSON errors
#: (401, 403, 422) as text/html too.
_PAGE: dict[int | str, dict[str, Any]] = {
    **_UNPROCESSABLE,
    200: {
        "description": "The printable page / 可打印的报告页",
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
}


@router.get("/{kind}/html", response_model=None, responses=_PAGE)
def review_html(
    db: Db,
    who: Reader,
    state: State,
    kind: PeriodKind,
    date: DayQuery = None,
    scope: ScopeQuery = None,
    lang: Lang = None,
) -> HTMLResponse:
    """The same report as a printable page with its charts / 可打印的报告页."""
    report = _report(db, who, state, kind, date, scope)
    language = lang or state.settings.lang
    names = town_names(state.town, language) if state.town is not None else {}
    return HTMLResponse(render_html(report, language, names))
