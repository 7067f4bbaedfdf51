"""The points ledger: accrued from case history by the configured amounts, counted once,
redeemed no further than the balance, and never rewritten."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from dispatch.cadence import ledger
from dispatch.cadence.config import PointsConfig
from dispatch.cadence.review import build
from dispatch.clock import ManualClock
from dispatch.errors import ActionInputError
from dispatch.store import Context
from dispatch.worker import drain
from tests.dispatch.cadence_support import (
    Script,
    local,
    minutes,
    setup_for,
    units_in_distinct_villages,
)
from tests.dispatch.conftest import TownFixture

pytestmark = pytest.mark.services
AMOUNTS = PointsConfig(on_time_closure=3, verified=1, satisfied=2, overdue=3, returned=2)


def _on_time(s: Script, c: int, t: datetime) -> None:
    s.act(t + minutes(5), c, "accept")
    s.act(t + minutes(60), c, "resolve", note="done")
    s.act(t + minutes(70), c, "verify")
    s.act(t + minutes(80), c, "follow_up", rating=5)


def _returned_and_late(s: Script, c: int, t: datetime) -> None:
    s.act(t + minutes(5), c, "accept")
    s.act(t + minutes(60), c, "resolve", note="done")
    s.act(t + minutes(70), c, "verify")
    s.act(t + minutes(80), c, "follow_up", rating=2, note="still dirty")
    late = t + timedelta(hours=50)  # past the fresh 24-hour resolve deadline
    s.act(late, c, "resolve", note="again")
    s.act(late + minutes(10), c, "verify")
    s.act(late + minutes(20), c, "follow_up", rating=4)


def _timers(conn: psycopg.Connection[Any], ctx: Context) -> None:
    drain(conn, ctx)


def _expected(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """The balances from the history and the cases, by the amounts, written apart."""
    rows = conn.execute(
        """
        SELECT c.assignee,
            3 * count(*) FILTER (WHERE h.action IN ('rate_satisfied', 'close')
                                   AND h.to_status = 'closed'
                                   AND c.resolved_at <= c.resolve_by)
          + 1 * count(*) FILTER (WHERE h.action = 'verify')
          + 2 * count(*) FILTER (WHERE h.action = 'rate_satisfied')
          - 2 * count(*) FILTER (WHERE h.action IN ('return', 'rate_unsatisfied'))
          - 3 * count(DISTINCT h.data->>'missed') FILTER (WHERE h.action = 'escalated')
        FROM cases c JOIN case_history h ON h.case_id = c.id GROUP BY c.id, c.assignee
        """
    ).fetchall()
    out: dict[str, int] = {}
    for person, n in rows:
        out[person] = out.get(person, 0) + int(n)
    return out


def test_points_accrue_once_by_the_amounts_and_redeem_within_the_balance(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    units = units_in_distinct_villages(zhongmen, 3)
    s = Script(zhongmen)
    t0 = local(2025, 9, 16, 9)
    s.open_case(t0, units[0], "other", 2, _on_time)
    s.open_case(t0, units[1], "other", 2, _returned_and_late)
    s.open_case(t0, units[2], "other", 2)  # never accepted: escalates, level after level
    for hours in range(1, 60, 3):
        s.at(t0 + timedelta(hours=hours), _timers)
    s.run(conn, ctx, clock)
    now = t0 + timedelta(days=4)
    clock.set(now)

    assert ledger.accrue(conn, AMOUNTS, now, now) > 0
    assert ledger.accrue(conn, AMOUNTS, now, now) == 0  # again: nothing new
    expected = _expected(conn)
    leaders = [zhongmen.town.hierarchy.areas[u].leader for u in units]
    people = [p.person_id for p in leaders if p is not None]
    got = {p: ledger.balance(conn, p) for p in people}
    assert got == {p: expected[p] for p in people}
    # On time, verified, satisfied: 3 + 1 + 2. The never-accepted case lost points once.
    assert got[people[0]] == 6
    escalations = conn.execute(
        "SELECT count(*) FROM case_history h JOIN cases c ON c.id = h.case_id"
        " WHERE c.unit_id = %s AND h.action = 'escalated'",
        (units[2],),
    ).fetchone()
    assert escalations is not None and escalations[0] > 1 and got[people[2]] == -3

    with pytest.raises(ActionInputError, match="balance of 6"):
        ledger.redeem(conn, people[0], 7, "rice 5 kg", now, "V-1")
    assert ledger.redeem(conn, people[0], 5, "rice 5 kg", now, "V-1") == 1
    assert ledger.redeem(conn, people[0], 5, "rice 5 kg", now, "V-1") == 1  # the same voucher

    later = now + timedelta(minutes=1)
    report = build(conn, setup_for(ctx), "weekly", date(2025, 9, 16), later)
    mine = next(r for r in report["points"] if r["person"] == people[0])
    assert (mine["earned"], mine["redeemed"], mine["balance"]) == (6, -5, 1)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("UPDATE points_ledger SET points = 100")
