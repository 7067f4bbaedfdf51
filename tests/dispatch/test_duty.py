"""The duty roster on a controlled clock: hand-overs, weekends, overrides and leave."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dispatch.config import load_config
from dispatch.duty import DutyFile, NoOneOnDuty, RosterSpec, on_duty
from dispatch.errors import ConfigError
from gridwatch.town import load_town

SH = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]
A, B, C = "P-A", "P-B", "P-C"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in December 2026 in Shanghai; 4 December is a Friday."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


def roster(**kw: Any) -> RosterSpec:
    base: dict[str, Any] = {
        "name": "镇总值班",
        "name_en": "Town duty",
        "rotation": "day",
        "handover": "08:30",
        "start": "2026-11-30",  # a Monday: A, B, C, A ... from 08:30
        "people": [A, B, C],
    }
    return RosterSpec.model_validate({**base, **kw})


def who(spec: RosterSpec, moment: datetime) -> str:
    return on_duty("town", spec, moment, SH).person


def test_a_daily_rotation_hands_over_at_the_hand_over_time() -> None:
    spec = roster()
    # Thursday 3 December is day 3 (A), Friday day 4 (B).
    assert who(spec, at(4, 8, 29)) == A
    found = on_duty("town", spec, at(4, 8, 30), SH)
    assert (found.person, found.since, found.until, found.why) == (
        B,
        at(4, 8, 30),
        at(5, 8, 30),
        "rotation",
    )
    # Before dawn is still the previous day's shift, in GRIDWATCH_TZ not UTC.
    assert who(spec, at(5, 3, 0)) == B


def test_the_rotation_runs_on_over_the_weekend() -> None:
    spec = roster()
    seen = [who(spec, at(d, 12)) for d in (4, 5, 6, 7)]  # Friday to Monday
    assert seen == [B, C, A, B]


def test_a_weekly_rotation_keeps_one_commander_over_the_weekend_and_hands_over_monday() -> None:
    spec = roster(rotation="week", people=[A, B])
    # A's week runs from Monday 30 November, 08:30.
    assert {who(spec, at(d, 12)) for d in (4, 5, 6)} == {A}  # Friday, Saturday, Sunday
    assert who(spec, at(7, 8, 29)) == A
    found = on_duty("town", spec, at(7, 8, 30), SH)
    assert (found.person, found.since, found.until) == (B, at(7, 8, 30), at(14, 8, 30))


def test_an_override_takes_the_shift_for_its_period_only() -> None:
    # C swaps A's Sunday daytime: A keeps the night.
    spec = roster(overrides=[{"start": "2026-12-06T08:30", "end": "2026-12-06T20:00", "person": C}])
    found = on_duty("town", spec, at(6, 9), SH)
    assert (found.person, found.why, found.until) == (C, "override", at(6, 20))
    assert who(spec, at(6, 20)) == A
    assert who(spec, at(6, 8, 29)) == C  # Saturday's shift, C's own


def test_leave_hands_the_shift_to_the_next_in_the_order() -> None:
    spec = roster(leave=[{"person": B, "start": "2026-12-04", "end": "2026-12-08"}])
    found = on_duty("town", spec, at(4, 12), SH)
    assert (found.person, found.why, found.instead_of) == (C, "leave", B)
    assert who(spec, at(8, 12)) == C  # C's own shift again
    everyone = roster(
        leave=[{"person": p, "start": "2026-12-01", "end": "2026-12-31"} for p in (A, B, C)]
    )
    with pytest.raises(NoOneOnDuty, match="on leave"):
        on_duty("town", everyone, at(4, 12), SH)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"handover": "8:30"}, "not HH:MM"),
        ({"people": [A, B, A]}, "listed twice"),
        ({"people": []}, "at least 1"),
        ({"rotation": "month"}, "'day' or 'week'"),
        ({"overrides": [{"start": "2026-12-06", "end": "2026-12-05", "person": C}]}, "not after"),
        ({"shift": 1}, "Extra inputs"),
    ],
)
def test_bad_rosters_are_refused(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        roster(**patch)


def test_escalations_must_name_a_roster() -> None:
    with pytest.raises(ValidationError, match="'street' is not a roster"):
        DutyFile.model_validate(
            {"rosters": {"town": roster().model_dump()}, "escalations": "street"}
        )


def _folder(tmp_path: Path, people: list[str]) -> Path:
    (tmp_path / "duty.yaml").write_text(
        "escalations: town\nrosters:\n  town:\n    name: 镇总值班\n    name_en: Town duty\n"
        f"    rotation: day\n    start: 2026-01-05\n    people: [{', '.join(people)}]\n"
        "  street:\n    name: 街道值班\n    name_en: Street duty\n    rotation: week\n"
        "    start: 2026-01-05\n    people: [P01353]\n",
        encoding="utf-8",
    )
    return tmp_path


def test_roster_people_must_be_in_people_yaml_with_a_duty_commander_post(tmp_path: Path) -> None:
    town = load_town(REPO / "config")
    village_leader = "P00002"
    with pytest.raises(ConfigError) as err:
        load_config(_folder(tmp_path, ["P01352", "P99999", village_leader]), town.people)
    lines = str(err.value).splitlines()
    assert any(
        "duty.yaml: rosters.town.people[1]: unknown person" in x and "P99999" in x for x in lines
    )
    assert any(
        "rosters.town.people[2]: holds no duty_commander post" in x and village_leader in x
        for x in lines
    )
    good = load_config(_folder(tmp_path, ["P01352", "P01353"]), town.people).duty
    assert good is not None and sorted(good.rosters) == ["street", "town"]
    # Two rosters side by side, each with its own commander.
    assert who(good.rosters["street"], at(4, 12)) == "P01353"
