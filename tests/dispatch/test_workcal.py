"""The working calendar: the package's years, calendar.yaml's years, and nothing guessed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatch.clock import ManualClock
from dispatch.config import load_config
from dispatch.deadlines import compute, is_workday
from dispatch.errors import CalendarNotCovered, ConfigError
from dispatch.notify import OutboxNotifier
from dispatch.store import Context
from dispatch.workcal import WARN_DAYS, coverage, package_calendar
from dispatch.worker import make_context, warn_calendar
from gridwatch.town import load_town

SH = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]

#: A made-up 2027 for tests, NOT the State Council's: 1 January and Monday 4 and
#: Tuesday 5 January off, Saturday 9 January worked.
TEST_2027 = """
years:
  2027:
    holidays: [2027-01-01, 2027-01-02, 2027-01-03, 2027-01-04, 2027-01-05]
    workdays: [2027-01-09]
"""
#: Five working days of 420 minutes (08:30-12:00, 14:00-17:30), counted in working time.
FIVE_DAYS = """
working_hours: [["08:30", "12:00"], ["14:00", "17:30"]]
default:
  1: {accept_minutes: 15, resolve_minutes: 240}
  2: {accept_minutes: 30, resolve_minutes: 1440}
  3: {accept_minutes: 120, resolve_minutes: 4320}
  4: {accept_minutes: 420, resolve_minutes: 2100, working_time: true}
"""


def folder(tmp_path: Path, calendar: str | None) -> Path:
    (tmp_path / "deadlines.yaml").write_text(FIVE_DAYS, encoding="utf-8")
    if calendar is not None:
        (tmp_path / "calendar.yaml").write_text(calendar, encoding="utf-8")
    return tmp_path


def test_the_package_alone_refuses_2027_instead_of_counting_monday_to_friday() -> None:
    assert not is_workday(date(2026, 10, 1)) and is_workday(date(2026, 10, 10))
    with pytest.raises(CalendarNotCovered, match=r"does not cover 2027 \(it covers 2004-2026\)"):
        is_workday(date(2027, 1, 4))


def test_a_five_working_day_deadline_from_30_december_lands_where_the_2027_calendar_says(
    tmp_path: Path,
) -> None:
    config = load_config(folder(tmp_path, TEST_2027))
    opened = datetime(2026, 12, 30, 9, 0, tzinfo=SH)
    dl = compute(config.deadlines, "dispute", 4, opened, SH, config.calendar)
    # 30 Dec from 09:00 (390 min), 31 Dec (420), then 6, 7, 8 January (1,260): 30 minutes
    # are left for the make-up Saturday. Monday to Friday would have ended on 6 January.
    assert dl.resolve_by == datetime(2027, 1, 9, 9, 0, tzinfo=SH)
    assert dl.accept_by == datetime(2026, 12, 31, 9, 0, tzinfo=SH)


def test_without_a_2027_calendar_that_deadline_is_an_error_naming_2027(tmp_path: Path) -> None:
    config = load_config(folder(tmp_path, None))
    opened = datetime(2026, 12, 30, 9, 0, tzinfo=SH)
    with pytest.raises(CalendarNotCovered, match="2027") as err:
        compute(config.deadlines, "dispute", 4, opened, SH, config.calendar)
    assert err.value.year == 2027
    # Elapsed time needs no calendar.
    assert compute(config.deadlines, "fire_smoke", 1, opened, SH, config.calendar)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("years: {2027: {holidays: [2026-10-01]}}", "years.2027.holidays[0]", "is not in 2027"),
        (
            "years: {2027: {holidays: [2027-01-09], workdays: [2027-01-09]}}",
            "years.2027.workdays[0]",
            "not both",
        ),
        ("years: {2027: {workdays: [2027-01-06]}}", "years.2027.workdays[0]", "is a weekday"),
        (
            "years: {2027: {holidays: [2027-01-01, 2027-01-01]}}",
            "years.2027.holidays[1]",
            "listed twice",
        ),
        ("years: {2027: {holidays: [], leave: []}}", "years.2027.leave", "Extra inputs"),
        ("years: {2027: {holidays: [2027-02-30]}}", "(file)", "day is out of range"),
        # The package says 1 October 2026 is off: calendar.yaml may not say otherwise.
        ("years: {2026: {holidays: [2026-01-01]}}", "years.2026.holidays", "differs from"),
    ],
)
def test_a_bad_calendar_names_the_file_the_date_and_why(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(folder(tmp_path, text))
    line = str(err.value)
    assert f"calendar.yaml: {where}: " in line and message in line, line


def test_a_year_given_as_the_package_gives_it_is_accepted(tmp_path: Path) -> None:
    base = package_calendar()
    holidays = sorted(d.isoformat() for d in base.holidays if d.year == 2026)
    workdays = sorted(d.isoformat() for d in base.workdays if d.year == 2026)
    text = f"years:\n  2026:\n    holidays: [{', '.join(holidays)}]\n"
    text += f"    workdays: [{', '.join(workdays)}]\n"
    assert load_config(folder(tmp_path, text)).calendar == base


def test_uncovered_weekdays_counts_monday_to_friday_openly_and_the_dispatcher_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("town.geojson", "people.yaml", "devices.yaml", "departments.yaml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    folder(tmp_path, "uncovered: weekdays\nyears: {}\n")
    config = load_config(tmp_path)
    opened = datetime(2026, 12, 30, 9, 0, tzinfo=SH)
    dl = compute(config.deadlines, "dispute", 4, opened, SH, config.calendar)
    # 30 Dec from 09:00 (390 min), 31 Dec (420), then Friday 1 January (New Year's Day,
    # counted: the stop-gap's known cost), 4 and 5 January (1,260), 30 minutes of the 6th.
    assert dl.resolve_by == datetime(2027, 1, 6, 9, 0, tzinfo=SH)
    with caplog.at_level("ERROR", logger="dispatch.worker"):
        ctx = make_context(tmp_path, clock=ManualClock(datetime(2027, 1, 4, 9, tzinfo=SH)))
    found = warn_calendar(ctx)
    assert not found.covered and found.usable
    assert any(
        "deadlines count Monday to Friday" in r.getMessage() and r.levelname == "ERROR"
        for r in caplog.records
    )
    # 2026 still comes from the package: 1 October is off whatever the policy.
    assert not config.calendar.is_workday(date(2026, 10, 1))


def test_coverage_warns_within_sixty_days_of_the_end() -> None:
    cal = package_calendar()
    early = coverage(cal, datetime(2026, 10, 31, 12, tzinfo=SH), SH)
    late = coverage(cal, datetime(2026, 11, 2, 12, tzinfo=SH), SH)
    assert (early.last_year, early.days_left, early.message()) == (2026, 62, None)
    assert late.days_left == 60 <= WARN_DAYS
    assert late.message() is not None and "add 2027" in late.message()  # type: ignore[operator]
    # New Year's Eve in UTC is already 2027 in Shanghai.
    eve = coverage(cal, datetime(2026, 12, 31, 16, 30, tzinfo=UTC), SH)
    assert not eve.covered and "does not cover 2027" in (eve.message() or "")


def test_the_dispatcher_refuses_to_start_in_a_year_the_calendar_lacks(tmp_path: Path) -> None:
    for name in ("town.geojson", "people.yaml", "devices.yaml", "departments.yaml"):
        (tmp_path / name).write_bytes((REPO / "config" / name).read_bytes())
    folder(tmp_path, None)
    clock = ManualClock(datetime(2027, 1, 4, 9, tzinfo=SH))
    with pytest.raises(CalendarNotCovered, match="2027"):
        make_context(tmp_path, clock=clock)
    (tmp_path / "calendar.yaml").write_text(TEST_2027, encoding="utf-8")
    ctx = make_context(tmp_path, clock=clock)
    assert warn_calendar(ctx).last_year == 2027


def test_the_dispatcher_warns_in_its_log_when_the_calendar_ends_soon(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = Context(
        town=load_town(REPO / "config"),
        config=load_config(REPO / "config"),
        tz=SH,
        clock=ManualClock(datetime(2026, 12, 1, 9, tzinfo=SH)),
        notifier=OutboxNotifier(),
    )
    with caplog.at_level("WARNING", logger="dispatch.worker"):
        assert warn_calendar(ctx, strict=True).days_left == 31
    assert any("add 2027 to calendar.yaml" in r.getMessage() for r in caplog.records)
