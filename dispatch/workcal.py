"""The working calendar: which days are working days, for the years it covers and no other.

China's State Council publishes each year's public holidays and make-up working days
(调休上班) in the late autumn before. The ``chinesecalendar`` package carries the years
up to its release; ``calendar.yaml`` in the config folder adds the years it does not
know yet. A day in a year that neither covers raises :class:`CalendarNotCovered`: the
package itself silently falls back to Monday to Friday there, which would count New
Year's Day as a working day and a make-up Saturday as a day off.

Unless ``calendar.yaml`` says ``uncovered: weekdays``: then such a year counts Monday to
Friday *openly*, as a stop-gap until its schedule is added. The gateway and the
dispatcher keep running and opening cases (refusing would stop every case on 1 January
because a notice is late), and say so in the log, on ``/health`` and in ``gridwatch
config check``. Without the key, or with ``uncovered: refuse``, nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from dispatch.errors import CalendarNotCovered

#: The gateway and the dispatcher warn this many days before the last covered year ends.
WARN_DAYS = 60
PACKAGE = "chinesecalendar"


class YearDays(BaseModel):
    """One year's schedule as the State Council published it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: list[date] = Field(
        default_factory=list, max_length=366, description="Days off (放假), weekends in them too"
    )
    workdays: list[date] = Field(
        default_factory=list,
        max_length=366,
        description="Make-up working days (调休上班): Saturdays or Sundays that are worked",
    )


class CalendarFile(BaseModel):
    """``calendar.yaml``: years that the ``chinesecalendar`` package does not carry (yet)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    years: dict[int, YearDays] = Field(
        default_factory=dict, description="Schedule per year, e.g. 2027: {holidays, workdays}"
    )
    uncovered: Literal["refuse", "weekdays"] = Field(
        default="refuse",
        description="A year neither this file nor the package gives: refuse it (the "
        "services do not start, deadlines into it are parked), or count Monday to Friday "
        "with a warning until it is added",
    )


@dataclass(frozen=True, slots=True)
class DayProblem:
    """A date that cannot be in the calendar: where in the file, the value and why."""

    where: str
    value: str
    message: str


def file_problems(data: CalendarFile) -> list[DayProblem]:
    """Every date outside its year, listed twice, both off and worked, or a weekday
    given as a make-up working day."""
    problems: list[DayProblem] = []
    for year, days in sorted(data.years.items()):
        if not 2000 <= year <= 2100:
            problems.append(DayProblem(f"years.{year}", str(year), "expected a year 2000..2100"))
            continue
        for kind in ("holidays", "workdays"):
            seen: set[date] = set()
            for i, day in enumerate(getattr(days, kind)):
                where = f"years.{year}.{kind}[{i}]"
                if day.year != year:
                    problems.append(DayProblem(where, day.isoformat(), f"is not in {year}"))
                if day in seen:
                    problems.append(DayProblem(where, day.isoformat(), "is listed twice"))
                seen.add(day)
                if kind == "workdays" and day.weekday() < 5:
                    problems.append(
                        DayProblem(
                            where,
                            day.isoformat(),
                            "is a weekday; a make-up working day is a Saturday or Sunday",
                        )
                    )
        for day in sorted(set(days.holidays) & set(days.workdays)):
            i = days.workdays.index(day)
            problems.append(
                DayProblem(
                    f"years.{year}.workdays[{i}]",
                    day.isoformat(),
                    "is also in holidays; a day is off or worked, not both",
                )
            )
    return problems


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Holidays and make-up working days for a set of whole years."""

    years: frozenset[int]
    holidays: frozenset[date]
    workdays: frozenset[date]
    #: A year not in ``years`` counts Monday to Friday instead of raising.
    weekdays_elsewhere: bool = False

    def covers(self, year: int) -> bool:
        return year in self.years

    def is_workday(self, day: date) -> bool:
        """Make-up working days on, holidays off, otherwise Monday to Friday."""
        if day.year not in self.years:
            if self.weekdays_elsewhere:
                return day.weekday() < 5
            raise CalendarNotCovered(day.year, self.span())
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() < 5

    def span(self) -> str:
        """The covered years as text, e.g. ``2004-2026`` or ``2004-2026, 2028``."""
        runs: list[str] = []
        for first, last in _runs(self.years):
            runs.append(str(first) if first == last else f"{first}-{last}")
        return ", ".join(runs) or "none"

    def last_year_from(self, year: int) -> int | None:
        """The last year of the unbroken run of covered years from ``year``; None if
        ``year`` is not covered."""
        if year not in self.years:
            return None
        while year + 1 in self.years:
            year += 1
        return year


def _runs(years: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for y in sorted(years):
        if out and out[-1][1] == y - 1:
            out[-1] = (out[-1][0], y)
        else:
            out.append((y, y))
    return out


def _build(
    holidays: Iterable[date],
    workdays: Iterable[date],
    years: Iterable[int],
    weekdays_elsewhere: bool = False,
) -> WorkCalendar:
    return WorkCalendar(
        frozenset(years), frozenset(holidays), frozenset(workdays), weekdays_elsewhere
    )


@lru_cache(maxsize=1)
def package_calendar() -> WorkCalendar:
    """The years the installed ``chinesecalendar`` carries, and only those."""
    from chinese_calendar import constants

    holidays: Mapping[date, object] = constants.holidays
    workdays: Mapping[date, object] = constants.workdays
    years = {d.year for d in holidays} | {d.year for d in workdays}
    return _build(holidays, workdays, years)


def _year_of(cal: WorkCalendar, year: int) -> tuple[frozenset[date], frozenset[date]]:
    return (
        frozenset(d for d in cal.holidays if d.year == year),
        frozenset(d for d in cal.workdays if d.year == year),
    )


def disagreements(base: WorkCalendar, data: CalendarFile) -> list[DayProblem]:
    """Years that ``calendar.yaml`` gives differently from the package: one of them is
    wrong, and neither silently wins."""
    problems: list[DayProblem] = []
    for year, days in sorted(data.years.items()):
        if not base.covers(year):
            continue
        holidays, workdays = _year_of(base, year)
        for kind, ours, theirs in (
            ("holidays", frozenset(days.holidays), holidays),
            ("workdays", frozenset(days.workdays), workdays),
        ):
            if ours != theirs:
                extra = sorted(d.isoformat() for d in ours - theirs)
                missing = sorted(d.isoformat() for d in theirs - ours)
                problems.append(
                    DayProblem(
                        f"years.{year}.{kind}",
                        f"extra {extra}, missing {missing}",
                        f"differs from {PACKAGE}'s {year}; give the year as the package "
                        "does, or leave it out",
                    )
                )
    return problems


def with_file(base: WorkCalendar, data: CalendarFile) -> WorkCalendar:
    """``base`` plus the years of ``calendar.yaml`` (checked with :func:`file_problems`
    and :func:`disagreements` first)."""
    holidays = set(base.holidays)
    workdays = set(base.workdays)
    for days in data.years.values():
        holidays.update(days.holidays)
        workdays.update(days.workdays)
    return _build(holidays, workdays, base.years | set(data.years), data.uncovered == "weekdays")


@dataclass(frozen=True, slots=True)
class Coverage:
    """How far the calendar reaches from a moment: ``year`` is that moment's year."""

    year: int
    last_year: int | None  # None: ``year`` itself is not covered
    days_left: int  # days from the moment to the end of ``last_year``; 0 when uncovered
    #: Uncovered years count Monday to Friday (``uncovered: weekdays``).
    weekdays_elsewhere: bool = False

    @property
    def covered(self) -> bool:
        return self.last_year is not None

    @property
    def usable(self) -> bool:
        """Deadlines can be counted now: covered, or openly Monday to Friday."""
        return self.covered or self.weekdays_elsewhere

    @property
    def ending(self) -> bool:
        return self.covered and self.days_left <= WARN_DAYS

    def message(self) -> str | None:
        """What to tell people, Chinese with English; None when all is well."""
        if not self.covered and self.weekdays_elsewhere:
            return (
                f"工作日历未覆盖 {self.year} 年，期限暂按周一至周五计算 / the working calendar "
                f"does not cover {self.year}: deadlines count Monday to Friday, holidays and "
                "make-up days ignored, until it is added to calendar.yaml (docs/dispatch.md)"
            )
        if not self.covered:
            return (
                f"工作日历未覆盖 {self.year} 年 / the working calendar does not cover "
                f"{self.year}: add it to calendar.yaml (docs/dispatch.md)"
            )
        if self.ending:
            nxt = (self.last_year or self.year) + 1
            return (
                f"工作日历将于 {self.days_left} 天后结束，请在 calendar.yaml 中加入 {nxt} 年 / "
                f"the working calendar ends in {self.days_left} days ({self.last_year}-12-31): "
                f"add {nxt} to calendar.yaml (docs/dispatch.md)"
            )
        return None


def coverage(cal: WorkCalendar, now: datetime, tz: ZoneInfo) -> Coverage:
    today = now.astimezone(tz).date()
    last = cal.last_year_from(today.year)
    if last is None:
        return Coverage(today.year, None, 0, cal.weekdays_elsewhere)
    end = date(last, 12, 31) + timedelta(days=1)
    return Coverage(today.year, last, (end - today).days, cal.weekdays_elsewhere)


def require_coverage(cal: WorkCalendar, now: datetime, tz: ZoneInfo) -> Coverage:
    """The coverage at ``now``; CalendarNotCovered when ``now``'s own year is missing
    and the calendar does not count such a year Monday to Friday."""
    found = coverage(cal, now, tz)
    if not found.usable:
        raise CalendarNotCovered(found.year, cal.span())
    return found
