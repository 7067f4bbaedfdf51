"""``GET /api/v1/stats/cases``: cases per category and unit over time, and on-time rates.

Read on the caller's scoped connection: row-level security counts only their cases.
Duplicates (merged into another case) are left out. A case met its acceptance
(resolution) deadline when it was accepted (resolved) by ``accept_by``
(``resolve_by``); cases without that deadline are not counted either way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.api.deps import CurrentPerson, Db, SettingsDep, State
from gateway.api.models.stats import CaseStatsPublic, CategoryStats, DayCount, UnitStats

router = APIRouter(prefix="/api/v1/stats", tags=["reports"])

_WHERE = "opened_at >= %(since)s AND status <> 'duplicate'"
_COUNTS = """
count(*),
count(*) FILTER (WHERE accepted_at IS NOT NULL AND accept_by IS NOT NULL),
count(*) FILTER (WHERE accepted_at <= accept_by),
count(*) FILTER (WHERE resolved_at IS NOT NULL AND resolve_by IS NOT NULL),
count(*) FILTER (WHERE resolved_at <= resolve_by)
"""
PER_DAY = f"""
SELECT (opened_at AT TIME ZONE %(tz)s)::date AS day, category, count(*)
  FROM cases WHERE {_WHERE} GROUP BY 1, 2 ORDER BY 1, 2
"""
PER_CATEGORY = f"SELECT category, {_COUNTS} FROM cases WHERE {_WHERE} GROUP BY 1 ORDER BY 2 DESC, 1"
PER_UNIT = f"""
SELECT unit_id, {_COUNTS} FROM cases WHERE {_WHERE}
 GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST LIMIT %(units)s
"""


def _on_time(row: Any) -> dict[str, int]:
    n, accepted, accepted_on_time, resolved, resolved_on_time = row
    return {
        "n": n, "accepted": accepted, "accepted_on_time": accepted_on_time,
        "resolved": resolved, "resolved_on_time": resolved_on_time,
    }  # fmt: skip


@router.get("/cases", summary="Cases per category and unit over time, and on-time rates")
def case_stats(
    db: Db,
    state: State,
    settings: SettingsDep,
    who: CurrentPerson,
    days: Annotated[int, Query(ge=1, le=366, description="The last this many days")] = 30,
    units: Annotated[int, Query(ge=1, le=200, description="The busiest this many units")] = 15,
) -> CaseStatsPublic:
    """Cases opened in the last ``days`` days in your scope / 案件统计 (分类、单元、按时率)."""
    local = state.clock.now().astimezone(settings.zone)
    since = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    args = {"since": since, "tz": settings.tz, "units": units}
    return CaseStatsPublic(
        since=since,
        days=days,
        tz=settings.tz,
        per_day=[
            DayCount(day=d, category=c, n=n) for d, c, n in db.execute(PER_DAY, args).fetchall()
        ],
        per_category=[
            CategoryStats(category=r[0], **_on_time(r[1:]))
            for r in db.execute(PER_CATEGORY, args).fetchall()
        ],
        per_unit=[
            UnitStats(unit_id=r[0], **_on_time(r[1:]))
            for r in db.execute(PER_UNIT, args).fetchall()
        ],
    )
