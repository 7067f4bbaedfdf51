"""Report periods: a day, an ISO week, a month or a fortnight, bounded in ``GRIDWATCH_TZ``.

Fortnights count from a configured start date (``cadence.yaml``), so every two
weeks of the program's rhythm begin on the same weekday the program began on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class PeriodKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    FORTNIGHT = "fortnight"


#: Names people read: (Chinese, English).
PERIOD_NAMES: dict[PeriodKind, tuple[str, str]] = {
    PeriodKind.DAILY: ("日报", "daily report"),
    PeriodKind.WEEKLY: ("周报", "weekly report"),
    PeriodKind.MONTHLY: ("月报", "monthly report"),
    PeriodKind.FORTNIGHT: ("双周排名", "fortnightly ranking"),
}


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in local time: the first local day and the day after the last."""

    kind: PeriodKind
    first_day: date
    end_day: date  # exclusive
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.end_day, time(0), tzinfo=self.tz)

    @property
    def days(self) -> list[date]:
        return [
            self.first_day + timedelta(days=i) for i in range((self.end_day - self.first_day).days)
        ]

    def as_of(self, now: datetime) -> datetime:
        """The moment snapshots (open, overdue) are taken: the end, or now while it runs."""
        return min(self.end, now)

    def complete(self, now: datetime) -> bool:
        return now >= self.end


def period_of(
    kind: PeriodKind | str, day: date, tz: ZoneInfo, fortnight_start: date | None = None
) -> Period:
    """The period of ``kind`` that contains the local day ``day``.

    ValueError naming ``fortnight_start`` when a fortnight is asked for without one, or
    for a day before it.
    """
    k = PeriodKind(kind)
    if k is PeriodKind.DAILY:
        return Period(k, day, day + timedelta(days=1), tz)
    if k is PeriodKind.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return Period(k, monday, monday + timedelta(days=7), tz)
    if k is PeriodKind.MONTHLY:
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return Period(k, first, nxt, tz)
    if fortnight_start is None:
        raise ValueError("fortnight_start: None, expected the date fortnights count from")
    if day < fortnight_start:
        raise ValueError(
            f"date: {day.isoformat()}, expected a day on or after fortnight_start"
            f" {fortnight_start.isoformat()}"
        )
    first = fortnight_start + timedelta(days=14 * ((day - fortnight_start).days // 14))
    return Period(k, first, first + timedelta(days=14), tz)
