"""Six scripted weeks of a synthesized town: the four rates, mediation and the ranking.

Nine unit leaders, each in their own village, get cases every fortnight, driven
through ``dispatch.actions.act`` on a controlled clock: quick and slow acceptance,
late and on-time resolution, unsatisfied follow-ups (rework), disputes mediated or
not. One leader gets too few cases to be ranked; two behave identically, so their
tie is broken by the documented rule. Everything is checked against SQL written
here from docs/reports.md.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from dispatch.cadence.config import CadenceConfig, RankingConfig, WeightsConfig
from dispatch.cadence.render import render_html
from dispatch.cadence.review import build
from dispatch.clock import ManualClock
from dispatch.store import Context
from tests.dispatch.cadence_support import (
    Script,
    local,
    minutes,
    setup_for,
    units_in_distinct_villages,
)
from tests.dispatch.conftest import TownFixture

pytestmark = pytest.mark.services

START = date(2025, 9, 1)  # a Monday
FORTNIGHTS = [START + timedelta(days=14 * k) for k in range(3)]
CADENCE = CadenceConfig(fortnight_start=START, ranking=RankingConfig(min_cases=3))
OPEN = ["new", "assigned", "accepted", "in_progress", "reopened"]
#: Day offsets in a fortnight on which every leader gets a case, at 09:00 local;
#: the first is a dispute (counted in working time: accepted within the morning window).
DAYS = (1, 2, 3, 8)
OUTCOMES = ("mediated", "mediated", "failed", "referred")


def _behave(s: Script, rng: random.Random, case_id: int, t: datetime, dispute: bool) -> None:
    """What happens to one case: acceptance, resolution, check, follow-up, maybe rework."""
    accept = rng.choice([3, 12, 25, 50]) if dispute else rng.choice([3, 12, 25, 50, 200, None])
    if accept is None:
        return
    s.act(t + minutes(accept), case_id, "accept")
    if rng.random() < 0.1:
        return
    resolve = accept + 60 * rng.choice([2, 10, 20, 40, 80])
    extra = {"mediation_outcome": rng.choice(OUTCOMES)} if dispute else {}
    s.act(t + minutes(resolve), case_id, "resolve", note="done", **extra)
    s.act(t + minutes(resolve + 60), case_id, "verify")
    roll = rng.random()
    if roll < 0.15:
        return  # never followed up
    if roll < 0.35:
        s.act(t + minutes(resolve + 120), case_id, "follow_up", rating=2, note="not fixed")
        again = resolve + 60 * rng.choice([3, 30])
        s.act(t + minutes(again), case_id, "resolve", note="redone", **extra)
        s.act(t + minutes(again + 60), case_id, "verify")
        s.act(t + minutes(again + 120), case_id, "follow_up", rating=rng.choice([2, 4]), note="ok?")
        return
    if roll < 0.45:
        s.act(t + minutes(resolve + 90), case_id, "return", note="photo missing")
        s.act(t + minutes(resolve + 300), case_id, "resolve", note="photo added", **extra)
        s.act(t + minutes(resolve + 360), case_id, "verify")
    s.act(t + minutes(resolve + 420), case_id, "follow_up", rating=rng.choice([3, 4, 5]))


def _twin(s: Script, case_id: int, t: datetime, dispute: bool) -> None:
    """The two tied leaders: slow to accept, late, never followed up; identically."""
    s.act(t + minutes(50), case_id, "accept")
    extra = {"mediation_outcome": "failed"} if dispute else {}
    s.act(t + minutes(50 + 60 * 70), case_id, "resolve", note="late", **extra)


def _twin_then(dispute: bool) -> Callable[[Script, int, datetime], None]:
    def then(s: Script, case_id: int, t: datetime) -> None:
        _twin(s, case_id, t, dispute)

    return then


def _behave_then(seed: float, dispute: bool) -> Callable[[Script, int, datetime], None]:
    def then(s: Script, case_id: int, t: datetime) -> None:
        _behave(s, random.Random(seed), case_id, t, dispute)

    return then


def _script(zhongmen: TownFixture) -> tuple[Script, list[str]]:
    units = units_in_distinct_villages(zhongmen, 9)
    s = Script(zhongmen)
    rng = random.Random(16)
    for first in FORTNIGHTS:
        for i, unit in enumerate(units):
            days = DAYS[:2] if i == 8 else DAYS  # the last leader: too few to rank
            for n, offset in enumerate(days):
                t = datetime.combine(first + timedelta(days=offset), datetime.min.time())
                t = t.replace(hour=9, tzinfo=local(2025, 1, 1).tzinfo)
                dispute = n == 0
                category, severity = ("dispute", 2) if dispute else ("other", 2)
                then = _twin_then(dispute) if i in (6, 7) else _behave_then(rng.random(), dispute)
                s.open_case(t, unit, category, severity, then)
    return s, units


#: Each case as it stood at %(as_of)s, for the cases opened in [%(start)s, %(end)s),
#: written from docs/reports.md without the report's code.
BASE = """
WITH h AS (SELECT * FROM case_history WHERE at < %(as_of)s),
st AS (SELECT DISTINCT ON (case_id) case_id, to_status AS status FROM h
       WHERE to_status IS NOT NULL ORDER BY case_id, id DESC),
who AS (SELECT DISTINCT ON (case_id) case_id, data->>'assignee' AS person FROM h
        WHERE data ? 'assignee' ORDER BY case_id, id DESC),
ab AS (SELECT DISTINCT ON (case_id) case_id, (data->>'accept_by')::timestamptz AS t FROM h
       WHERE data ? 'accept_by' ORDER BY case_id, id DESC),
rb AS (SELECT DISTINCT ON (case_id) case_id, (data->>'resolve_by')::timestamptz AS t FROM h
       WHERE data ? 'resolve_by' ORDER BY case_id, id DESC),
ab0 AS (SELECT case_id, (data->>'accept_by')::timestamptz AS t FROM h WHERE action = 'created'),
acc AS (SELECT case_id, min(at) AS t FROM h WHERE action = 'accept' GROUP BY case_id),
res AS (SELECT case_id, max(at) AS t FROM h WHERE action = 'resolve' GROUP BY case_id),
med AS (SELECT DISTINCT ON (case_id) case_id, data->>'mediation_outcome' AS outcome FROM h
        WHERE action = 'resolve' ORDER BY case_id, id DESC),
fu AS (SELECT DISTINCT ON (case_id) case_id, action = 'rate_satisfied' AS satisfied FROM h
       WHERE action IN ('rate_satisfied', 'rate_unsatisfied') ORDER BY case_id, id DESC),
rw AS (SELECT DISTINCT case_id FROM h WHERE action IN ('return', 'rate_unsatisfied', 'reopen')),
b AS (
    SELECT c.id, c.category, c.village_id, c.opened_at, who.person, st.status,
           ab.t AS accept_by, rb.t AS resolve_by, ab0.t AS first_accept_by,
           acc.t AS first_accept, res.t AS last_resolve, med.outcome, fu.satisfied,
           rw.case_id IS NOT NULL AS reworked
    FROM cases c JOIN st ON st.case_id = c.id
    LEFT JOIN who ON who.case_id = c.id LEFT JOIN ab ON ab.case_id = c.id
    LEFT JOIN rb ON rb.case_id = c.id LEFT JOIN ab0 ON ab0.case_id = c.id
    LEFT JOIN acc ON acc.case_id = c.id LEFT JOIN res ON res.case_id = c.id
    LEFT JOIN med ON med.case_id = c.id LEFT JOIN fu ON fu.case_id = c.id
    LEFT JOIN rw ON rw.case_id = c.id
    WHERE c.opened_at >= %(start)s AND c.opened_at < %(end)s
      AND st.status NOT IN ('duplicate', 'rejected'))
"""

RATES = (
    BASE
    + """
SELECT count(*),
       count(*) FILTER (WHERE first_accept <= first_accept_by),
       count(*) FILTER (WHERE status = 'closed'),
       count(*) FILTER (WHERE status IN ('resolved', 'verified', 'closed') AND NOT reworked),
       count(satisfied), count(*) FILTER (WHERE satisfied),
       count(*) FILTER (WHERE category = 'dispute'),
       count(outcome) FILTER (WHERE category = 'dispute'),
       count(*) FILTER (WHERE category = 'dispute' AND outcome = 'mediated')
FROM b
"""
)

PEOPLE = (
    BASE
    + """,
per AS (
    SELECT person, count(*) AS n,
        count(*) FILTER (WHERE status = 'closed' AND last_resolve <= resolve_by) AS on_time,
        count(*) FILTER (WHERE
            (status = ANY(%(open)s) AND CASE WHEN status IN ('new', 'assigned', 'reopened')
                THEN accept_by ELSE resolve_by END < %(as_of)s)
            OR (status IN ('resolved', 'verified', 'closed') AND last_resolve > resolve_by))
            AS overdue,
        count(*) FILTER (WHERE reworked) AS reworked,
        avg(extract(epoch FROM coalesce(first_accept, %(as_of)s) - opened_at) / 3600) AS wait_h
    FROM b WHERE person IS NOT NULL GROUP BY person)
SELECT person, n, round((%(w_on)s * on_time::numeric / n - %(w_over)s * overdue
                         - %(w_re)s * reworked::numeric / n - %(w_acc)s * wait_h)::numeric, 4)
       AS score, overdue, on_time::numeric / n AS on_time_rate
FROM per
"""
)


def _params(first: date, cadence: CadenceConfig) -> dict[str, Any]:
    tz = local(2025, 1, 1).tzinfo
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    end = start + timedelta(days=14)
    w = cadence.ranking.weights
    return {
        "start": start,
        "end": end,
        "as_of": end,
        "open": OPEN,
        "w_on": w.on_time_rate,
        "w_over": w.overdue,
        "w_re": w.reopen_rate,
        "w_acc": w.accept_hours,
    }


def _sql_bottom(conn: psycopg.Connection[Any], first: date, cadence: CadenceConfig) -> list[str]:
    rows = conn.execute(
        f"SELECT person FROM ({PEOPLE}) p WHERE n >= %(min)s"
        ' ORDER BY score, overdue DESC, on_time_rate, person COLLATE "C" LIMIT %(bottom)s',
        {
            **_params(first, cadence),
            "min": cadence.ranking.min_cases,
            "bottom": cadence.ranking.bottom,
        },
    ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.fixture
def history(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> list[str]:
    script, units = _script(zhongmen)
    script.run(conn, ctx, clock)
    clock.set(local(2025, 10, 20, 9))
    hier = zhongmen.town.hierarchy
    leaders = []
    for u in units:
        leader = hier.areas[u].leader
        assert leader is not None
        leaders.append(leader.person_id)
    return leaders


def test_four_rates_and_mediation_equal_independent_sql(
    conn: psycopg.Connection[Any], ctx: Context, clock: ManualClock, history: list[str]
) -> None:
    setup = setup_for(ctx, CADENCE)
    seen_mediated = 0
    for first in FORTNIGHTS:
        report = build(conn, setup, "fortnight", first, clock.now())
        row = conn.execute(RATES, _params(first, CADENCE)).fetchone()
        assert row is not None
        cases, responded, completed, resolved, rated, satisfied, disputes, outcome, mediated = row
        r = report["rates"]["all"]
        assert (r["cases"], r["responded"], r["completed"], r["resolved"]) == (
            cases,
            responded,
            completed,
            resolved,
        )
        assert (r["rated"], r["satisfied"]) == (rated, satisfied)
        assert r["response"] == pytest.approx(responded / cases)
        assert r["completion"] == pytest.approx(completed / cases)
        assert r["resolution"] == pytest.approx(resolved / cases)
        assert r["satisfaction"] == pytest.approx(satisfied / rated)
        m = report["mediation"]
        assert (m["disputes"], m["with_outcome"], m["mediated"]) == (disputes, outcome, mediated)
        assert m["rate"] == pytest.approx(mediated / outcome)
        seen_mediated += mediated
        # Ranked by completion first: the village rows are in that order.
        completion = [v["completion"] for v in report["rates"]["village"]]
        assert completion == sorted(completion, reverse=True)
    # The script exercised what the rates tell apart.
    assert seen_mediated > 0
    assert 0 < r["response"] < 1 and 0 < r["completion"] < 1


def test_bottom_five_not_ranked_tie_and_named_twice_equal_independent_sql(
    conn: psycopg.Connection[Any], ctx: Context, clock: ManualClock, history: list[str]
) -> None:
    setup = setup_for(ctx, CADENCE)
    few, twins = history[8], sorted(history[6:8])
    expected_named: dict[str, int] = {}
    for first in FORTNIGHTS:
        report = build(conn, setup, "fortnight", first, clock.now(), record=True)
        ranking = report["ranking"]
        bottom = [b["person"] for b in ranking["bottom"]]
        assert bottom == _sql_bottom(conn, first, CADENCE)
        assert ranking["recorded_now"] is True
        assert [r["person"] for r in ranking["record"]] == bottom
        # Below the minimum: listed as not ranked, never ranked.
        assert few in [p["person"] for p in ranking["not_ranked"]]
        assert few not in [p["person"] for p in ranking["ranked"]]
        # The twins tie on score, overdue and on-time rate: the lower id ranks lower.
        tied = [r for r in ranking["ranked"] if r["person"] in twins]
        assert [r["person"] for r in tied] == twins
        assert tied[0]["score"] == tied[1]["score"]
        assert tied[1]["position"] == tied[0]["position"] + 1
        # Each bottom row shows its score term by term.
        for b in ranking["bottom"]:
            t = b["terms"]
            assert b["score"] == pytest.approx(
                t["on_time"] - t["overdue"] - t["reopen"] - t["accept"], abs=1e-4
            )
        for p in bottom:
            expected_named[p] = expected_named.get(p, 0) + 1
        twice = sorted(p for p, n in expected_named.items() if n >= 2)
        assert [n["person"] for n in ranking["named_twice"]] == twice
    assert twice, "the script names someone twice"
    # The printed page shows the bottom five term by term, and who was named twice.
    page = render_html(report, "zh")
    assert "双周排名" in page and "得分 = 按时办结率×100.0" in page
    for b in ranking["bottom"]:
        assert f"<td>{b['score']:.2f}</td>" in page
    assert all((n["name"] or n["person"]) in page for n in ranking["named_twice"])
    assert all((p["name"] or p["person"]) in page for p in ranking["not_ranked"])
    assert "score = on-time rate x 100.0" in render_html(report, "en")

    # A later run, with another formula, leaves the record as it was.
    other = CadenceConfig(
        fortnight_start=START,
        ranking=RankingConfig(min_cases=1, weights=WeightsConfig(on_time_rate=0, accept_hours=50)),
    )
    before = conn.execute(
        "SELECT fortnight_start, person_id, position, score FROM ranking_named ORDER BY 1, 3"
    ).fetchall()
    again = build(conn, setup_for(ctx, other), "fortnight", FORTNIGHTS[0], clock.now(), record=True)
    assert again["ranking"]["recorded_now"] is False
    after = conn.execute(
        "SELECT fortnight_start, person_id, position, score FROM ranking_named ORDER BY 1, 3"
    ).fetchall()
    assert after == before
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("UPDATE ranking_named SET position = 9")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("DELETE FROM ranking_named")
