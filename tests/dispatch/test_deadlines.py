"""Deadlines by category and severity, in working time over China's holiday calendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dispatch.config import load_config
from dispatch.deadlines import DeadlineTable, add_working_time, compute, is_workday, reminder_times
from dispatch.errors import ConfigError

SH = ZoneInfo("Asia/Shanghai")
CONFIG = load_config(Path(__file__).resolve().parents[2] / "config")
TABLE = CONFIG.deadlines
CAL = CONFIG.calendar
WINDOWS = TABLE.windows()  # 08:30-12:00 and 14:00-17:30: 420 minutes a working day


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def test_the_calendar_knows_national_day_2025_and_its_make_up_days() -> None:
    # 2025: 1 to 8 October off; Sunday 28 September and Saturday 11 October worked.
    assert not is_workday(at(2025, 10, 1).date())
    assert not is_workday(at(2025, 10, 8).date())
    assert is_workday(at(2025, 9, 28).date())
    assert is_workday(at(2025, 10, 11).date())
    assert not is_workday(at(2025, 10, 12).date())


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        # Plain working day: inside the morning window.
        (at(2025, 9, 16, 9, 0), 60, at(2025, 9, 16, 10, 0)),
        # Across lunch.
        (at(2025, 9, 16, 11, 0), 120, at(2025, 9, 16, 15, 0)),
        # Before opening hours: counting starts at 08:30.
        (at(2025, 9, 16, 6, 0), 30, at(2025, 9, 16, 9, 0)),
        # Over the National Day holiday: 90 minutes on 30 Sep, then nothing until 9 Oct.
        (at(2025, 9, 30, 16, 0), 240, at(2025, 10, 9, 11, 0)),
        # ... and on through the make-up Saturday 11 Oct, skipping Sunday 12 Oct.
        (at(2025, 9, 30, 16, 0), 1440, at(2025, 10, 13, 10, 0)),
        # A Saturday case waits for the make-up Sunday 28 Sep, a working day.
        (at(2025, 9, 27, 10, 0), 240, at(2025, 9, 28, 14, 30)),
        # Ending exactly at a window's end stays there.
        (at(2025, 9, 16, 17, 0), 30, at(2025, 9, 16, 17, 30)),
    ],
)
def test_working_time_over_holidays_and_make_up_days(
    start: datetime, minutes: int, expected: datetime
) -> None:
    assert add_working_time(start, minutes, SH, WINDOWS) == expected


def test_dispute_deadlines_move_as_the_calendar_says_while_fire_counts_elapsed_time() -> None:
    opened = at(2025, 9, 30, 16, 0)
    dl = compute(TABLE, "dispute", 3, opened, SH, CAL)
    assert (dl.accept_by, dl.resolve_by) == (at(2025, 10, 9, 11, 0), at(2025, 10, 13, 10, 0))
    fire = compute(TABLE, "fire_smoke", 1, opened, SH, CAL)
    assert (fire.accept_by, fire.resolve_by) == (
        opened + timedelta(minutes=5),
        opened + timedelta(minutes=60),
    )
    # Category without its own row: the default for the severity.
    assert compute(TABLE, "loitering", 4, opened, SH, CAL).accept_by == opened + timedelta(hours=8)


def test_time_is_counted_in_the_configured_zone() -> None:
    # 08:00 UTC on a workday is 16:00 in Shanghai (90 working minutes left) but
    # 08:00 in UTC (before opening): the same instant gives different deadlines.
    start = datetime(2025, 9, 16, 8, 0, tzinfo=ZoneInfo("UTC"))
    in_sh = add_working_time(start, 120, SH, WINDOWS)
    in_utc = add_working_time(start, 120, ZoneInfo("UTC"), WINDOWS)
    assert in_sh == at(2025, 9, 17, 9, 0)
    assert in_utc == datetime(2025, 9, 16, 10, 30, tzinfo=ZoneInfo("UTC"))


def test_reminders_fall_before_the_deadline_and_after_opening() -> None:
    opened = at(2025, 9, 16, 9, 0)
    assert reminder_times(opened, opened + timedelta(minutes=60), TABLE) == [
        opened + timedelta(minutes=30),
        opened + timedelta(minutes=55),
    ]
    assert reminder_times(opened, opened + timedelta(minutes=5), TABLE) == []


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"default": {1: {"accept_minutes": 5, "resolve_minutes": 1}}}, "shorter than"),
        ({"working_hours": [["09:00", "08:00"]]}, "empty or overlaps"),
        ({"working_hours": [["9am", "17:00"]]}, "not HH:MM"),
        ({"categories": {"flood": {7: {"accept_minutes": 1, "resolve_minutes": 2}}}}, "1..4"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_bad_tables_are_refused_with_the_key_named(patch: dict[str, object], message: str) -> None:
    raw = TABLE.model_dump()
    raw.update(patch)
    with pytest.raises(ValidationError, match=message):
        DeadlineTable.model_validate(raw)


def test_a_bad_file_names_the_file_and_the_path(tmp_path: Path) -> None:
    (tmp_path / "deadlines.yaml").write_text(
        "default:\n  1: {accept_minutes: 0, resolve_minutes: 5}\n"
    )
    with pytest.raises(ConfigError, match=r"deadlines.yaml: default.1.accept_minutes"):
        load_config(tmp_path)
