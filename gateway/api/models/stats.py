"""Case statistics as the console's reports panel draws them."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from gateway.api.models.base import Public


class DayCount(Public):
    """Cases opened on one day (in ``GRIDWATCH_TZ``) in one category."""

    day: date
    category: str
    n: int


class OnTime(Public):
    """Counts of one category or unit: opened, and how many met their deadlines."""

    n: int = Field(description="Cases opened / 案件数")
    accepted: int = Field(description="Accepted, with an acceptance deadline / 已受理")
    accepted_on_time: int = Field(description="Of those, accepted by it / 按时受理")
    resolved: int = Field(description="Resolved, with a resolution deadline / 已办结")
    resolved_on_time: int = Field(description="Of those, resolved by it / 按时办结")


class CategoryStats(OnTime):
    category: str


class UnitStats(OnTime):
    unit_id: str | None


class CaseStatsPublic(Public):
    """Cases opened since ``since``, in your scope / 案件统计."""

    since: datetime
    days: int
    tz: str
    per_day: list[DayCount] = Field(description="Opened per day and category / 每日分类")
    per_category: list[CategoryStats] = Field(description="Per category / 分类")
    per_unit: list[UnitStats] = Field(description="The busiest units, busiest first / 单元")
