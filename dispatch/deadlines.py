"""Deadlines: accept-by and resolve-by from a table by category and severity.

Counted in ``GRIDWATCH_TZ``. A rule either counts elapsed time, or working time
only: working days per China's official calendar (public holidays off, make-up
working days on; :mod:`dispatch.workcal`), within the configured working hours
(all day when none are configured). Working time past the calendar's last year
raises :class:`~dispatch.errors.CalendarNotCovered` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dispatch.workcal import WorkCalendar, package_calendar

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
MAX_SCAN_DAYS = 3 * 366


class DeadlineRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accept_minutes: int = Field(ge=1, le=60 * 24 * 60, description="Time to accept the case")
    resolve_minutes: int = Field(ge=1, le=60 * 24 * 365, description="Time to resolve it")
    working_time: bool = Field(
        default=False, description="Count only working time per the calendar"
    )

    @model_validator(mode="after")
    def _accept_first(self) -> DeadlineRule:
        if self.resolve_minutes < self.accept_minutes:
            raise ValueError(
                f"resolve_minutes={self.resolve_minutes} is shorter than "
                f"accept_minutes={self.accept_minutes}"
            )
        return self


Severity = int  # 1 urgent .. 4 minor, as in the MQTT contract


class DeadlineTable(BaseModel):
    """The contents of ``config/deadlines.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    working_hours: list[tuple[str, str]] = Field(
        default_factory=list,
        description='Working windows as ["HH:MM", "HH:MM"] pairs; empty = the whole working day',
    )
    remind_before_minutes: list[int] = Field(
        default_factory=lambda: [30], description="Reminders this long before each deadline"
    )
    escalate_every_minutes: int | None = Field(
        default=None,
        ge=1,
        description="Time each new level gets before the next rise; default: accept",
    )
    default: dict[Severity, DeadlineRule]
    categories: dict[str, dict[Severity, DeadlineRule]] = Field(default_factory=dict)

    @field_validator("working_hours")
    @classmethod
    def _windows(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        last = -1
        for start, end in value:
            for text in (start, end):
                if not _HHMM.match(text):
                    raise ValueError(f"working hour {text!r} is not HH:MM")
            a, b = _minutes(start), _minutes(end)
            if not (last <= a < b <= 24 * 60):
                raise ValueError(f"working window [{start!r}, {end!r}] is empty or overlaps")
            last = b
        return value

    @model_validator(mode="after")
    def _all_severities(self) -> DeadlineTable:
        missing = [s for s in (1, 2, 3, 4) if s not in self.default]
        if missing:
            raise ValueError(f"default is missing severities {missing}")
        for cat, rules in self.categories.items():
            bad = [s for s in rules if s not in (1, 2, 3, 4)]
            if bad:
                raise ValueError(f"categories.{cat} has severities {bad}; use 1..4")
        return self

    def rule(self, category: str, severity: int) -> DeadlineRule:
        by_sev = self.categories.get(category, {})
        return by_sev.get(severity) or self.default[min(max(severity, 1), 4)]

    def windows(self) -> list[tuple[int, int]]:
        if not self.working_hours:
            return [(0, 24 * 60)]
        return [(_minutes(a), _minutes(b)) for a, b in self.working_hours]


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def is_workday(day: date) -> bool:
    """China's official working days per the ``chinesecalendar`` package's years alone;
    CalendarNotCovered outside them."""
    return package_calendar().is_workday(day)


def add_working_time(
    start: datetime,
    minutes: float,
    tz: ZoneInfo,
    windows: list[tuple[int, int]],
    workday: Callable[[date], bool] = is_workday,
) -> datetime:
    """``start`` plus ``minutes`` of working time, walking days in ``tz``."""
    if start.tzinfo is None:
        raise ValueError(f"start {start!r} must be timezone-aware")
    remaining = timedelta(minutes=minutes)
    cursor = start.astimezone(tz)
    day = cursor.date()
    for _ in range(MAX_SCAN_DAYS):
        if workday(day):
            midnight = datetime.combine(day, time(0), tzinfo=tz)
            for a, b in windows:
                seg_start = max(cursor, midnight + timedelta(minutes=a))
                seg_end = midnight + timedelta(minutes=b)
                if seg_start >= seg_end:
                    continue
                if remaining <= seg_end - seg_start:
                    return (seg_start + remaining).astimezone(start.tzinfo)
                remaining -= seg_end - seg_start
        day += timedelta(days=1)
        cursor = max(cursor, datetime.combine(day, time(0), tzinfo=tz))
    raise ValueError(f"no working time within {MAX_SCAN_DAYS} days of {start.isoformat()}")


def working_minutes(
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    windows: list[tuple[int, int]],
    workday: Callable[[date], bool] = is_workday,
) -> float:
    """Working minutes from ``start`` to ``end`` (0 when ``end`` is not later): the
    inverse of :func:`add_working_time`, for reports' times to accept and resolve."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(f"start {start!r} and end {end!r} must be timezone-aware")
    lo, hi = start.astimezone(tz), end.astimezone(tz)
    total = timedelta()
    day = lo.date()
    while day <= hi.date():
        if workday(day):
            midnight = datetime.combine(day, time(0), tzinfo=tz)
            for a, b in windows:
                seg_start = max(lo, midnight + timedelta(minutes=a))
                seg_end = min(hi, midnight + timedelta(minutes=b))
                if seg_start < seg_end:
                    total += seg_end - seg_start
        day += timedelta(days=1)
    return total.total_seconds() / 60


@dataclass(frozen=True, slots=True)
class Deadlines:
    accept_by: datetime
    resolve_by: datetime


def compute(
    table: DeadlineTable,
    category: str,
    severity: int,
    opened: datetime,
    tz: ZoneInfo,
    calendar: WorkCalendar,
) -> Deadlines:
    """The case's deadlines; CalendarNotCovered when working time runs past ``calendar``."""
    rule = table.rule(category, severity)
    if not rule.working_time:
        return Deadlines(
            opened + timedelta(minutes=rule.accept_minutes),
            opened + timedelta(minutes=rule.resolve_minutes),
        )
    windows = table.windows()
    day = calendar.is_workday
    return Deadlines(
        add_working_time(opened, rule.accept_minutes, tz, windows, day),
        add_working_time(opened, rule.resolve_minutes, tz, windows, day),
    )


def escalation_window(table: DeadlineTable, category: str, severity: int) -> timedelta:
    """How long a level that a case rose to has before the case rises again."""
    minutes = table.escalate_every_minutes or table.rule(category, severity).accept_minutes
    return timedelta(minutes=minutes)


def reminder_times(opened: datetime, deadline: datetime, table: DeadlineTable) -> list[datetime]:
    """When to remind before ``deadline``: only times after the case was opened."""
    times = {deadline - timedelta(minutes=m) for m in table.remind_before_minutes}
    return sorted(t for t in times if opened < t < deadline)
