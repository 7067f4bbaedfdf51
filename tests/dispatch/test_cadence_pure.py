"""The report's pure parts: period boundaries, percentiles, working minutes, the ranking order."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dispatch.cadence.formulas import PersonStats, Weights, percentile, rank
from dispatch.cadence.periods import period_of
from dispatch.deadlines import add_working_time, working_minutes

TZ = ZoneInfo("Asia/Shanghai")
WINDOWS = [(8 * 60 + 30, 12 * 60), (14 * 60, 17 * 60 + 30)]


@pytest.mark.parametrize(
    ("kind", "day", "first", "end"),
    [
        ("daily", date(2025, 9, 16), date(2025, 9, 16), date(2025, 9, 17)),
        ("weekly", date(2025, 9, 21), date(2025, 9, 15), date(2025, 9, 22)),  # a Sunday
        ("weekly", date(2025, 9, 22), date(2025, 9, 22), date(2025, 9, 29)),
        ("monthly", date(2025, 12, 31), date(2025, 12, 1), date(2026, 1, 1)),
        ("monthly", date(2024, 2, 29), date(2024, 2, 1), date(2024, 3, 1)),
        ("fortnight", date(2025, 9, 14), date(2025, 9, 1), date(2025, 9, 15)),
        ("fortnight", date(2025, 9, 15), date(2025, 9, 15), date(2025, 9, 29)),
    ],
)
def test_periods_run_from_local_midnight_to_local_midnight(
    kind: str, day: date, first: date, end: date
) -> None:
    p = period_of(kind, day, TZ, date(2025, 9, 1))
    assert (p.first_day, p.end_day) == (first, end)
    # Shanghai's midnight is 16:00 UTC the day before.
    assert p.start.astimezone(UTC) == datetime(first.year, first.month, first.day, tzinfo=UTC) - (
        timedelta(hours=8)
    )
    assert len(p.days) == (end - first).days


def test_a_fortnight_before_the_configured_start_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="fortnight_start 2025-09-01"):
        period_of("fortnight", date(2025, 8, 31), TZ, date(2025, 9, 1))
    with pytest.raises(ValueError, match="fortnight_start: None"):
        period_of("fortnight", date(2025, 9, 2), TZ, None)


def test_percentiles_interpolate_linearly_like_percentile_cont() -> None:
    rng = random.Random(3)
    for n in (1, 2, 5, 40):
        values = [rng.uniform(0, 500) for _ in range(n)]
        for p in (0.5, 0.9):
            assert percentile(values, p) == pytest.approx(float(np.percentile(values, 100 * p)))
    assert percentile([], 0.5) is None


def test_working_minutes_undo_add_working_time_over_holidays_and_nights() -> None:
    rng = random.Random(9)
    for _ in range(200):
        start = datetime(2025, 9, 20, tzinfo=TZ) + timedelta(minutes=rng.randrange(30 * 24 * 60))
        minutes = rng.randrange(1, 5000)
        end = add_working_time(start, minutes, TZ, WINDOWS)
        assert working_minutes(start, end, TZ, WINDOWS) == pytest.approx(minutes)
    # National Day week: nothing counts between 1 and 8 October 2025.
    assert (
        working_minutes(
            datetime(2025, 10, 1, tzinfo=TZ), datetime(2025, 10, 9, tzinfo=TZ), TZ, WINDOWS
        )
        == 0
    )


def _p(person: str, cases: int, on_time: int, overdue: int, reworked: int = 0) -> PersonStats:
    return PersonStats(person, None, cases, on_time, overdue, reworked, accept_hours=1.0)


def test_equal_scores_rank_more_overdue_lower_then_lower_on_time_then_lower_id() -> None:
    # With these weights one overdue case, or rework on every case, costs what a whole
    # on-time rate earns: four people score 0 in different ways.
    w = Weights(on_time_rate=10, overdue=10, reopen_rate=10, accept_hours=0)
    people = [
        _p("P-f", 4, 4, 0, reworked=4),  # 10 - 10 = 0, no overdue, on time 100%
        _p("P-b", 4, 4, 1),  # 10 - 10 = 0, one overdue: lowest
        _p("P-c", 4, 0, 0),  # 0, on time 0%: below P-f
        _p("P-a", 4, 0, 0),  # 0, ties P-c exactly: the lower id ranks lower
        _p("P-d", 2, 0, 0),  # too few cases
        _p("P-e", 5, 5, 0),  # 10: highest
    ]
    ranking = rank(people, w, min_cases=3)
    assert [r.stats.person for r in ranking.ranked] == ["P-b", "P-a", "P-c", "P-f", "P-e"]
    assert [r.position for r in ranking.ranked] == [1, 2, 3, 4, 5]
    assert [p.person for p in ranking.not_ranked] == ["P-d"]
    assert {r.terms.score for r in ranking.ranked[:4]} == {0.0}
