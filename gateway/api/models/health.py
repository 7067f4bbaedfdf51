"""/health's body."""

from __future__ import annotations

from pydantic import Field

from gateway.api.models.base import Public


class HealthPublic(Public):
    status: str = Field(description="ok or degraded")
    db: bool
    mqtt: bool | None = Field(description="None when this process runs no ingest consumer")
    writer: bool | None = Field(description="Ingest writer thread running; None without ingest")
    live: bool
    live_clients: int
    live_notifications: int
    ingest: dict[str, int] | None = None
    dispatch_backlog: int | None = Field(
        default=None, description="Stored events waiting for the dispatcher / 待派单事件数"
    )
    dispatch_parked: int | None = Field(
        default=None,
        description="Events set aside because their deadline needs a year the working "
        "calendar lacks / 因工作日历缺年份而搁置的事件数",
    )
    calendar: CalendarHealth | None = Field(
        default=None, description="The working calendar's reach; null without a town config"
    )
    dispatch_oldest_s: float | None = Field(
        default=None,
        description="Seconds the oldest of them has waited; null when none / 最久等待秒数",
    )


class CalendarHealth(Public):
    """How far the working calendar reaches (dispatch/workcal.py)."""

    year: int = Field(description="The current year in GRIDWATCH_TZ / 当前年份")
    last_year: int | None = Field(
        description="Last year of the calendar's unbroken run from this one; null when this "
        "year itself is missing / 工作日历覆盖至"
    )
    days_left: int = Field(ge=0, description="Days until that year ends / 剩余天数")
    warning: str | None = Field(
        description="Set within 60 days of the end, or when the year is missing / 提示"
    )
    weekdays_only: bool = Field(
        description="This year is missing and deadlines count Monday to Friday until it is "
        "added (calendar.yaml uncovered: weekdays) / 本年期限暂按周一至周五计算"
    )
