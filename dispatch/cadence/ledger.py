"""The points ledger's SQL: accrue entries from new history rows, redeem, read balances.

Accrual reads history rows from shortly before the newest one already accrued (a
row committed late with an older time is still seen) and inserts each entry under
its unique key, so running it again, or twice at once, counts nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from dispatch.cadence.config import PointsConfig
from dispatch.cadence.points import Row, entries_for
from dispatch.errors import ActionInputError

#: How far before the newest accrued row a run looks again, for rows committed late.
OVERLAP = timedelta(hours=1)
_LOCK = (0x6772, 0x7074)  # one accrual at a time; concurrent ones would only wait

_ROWS = """
SELECT h.id, h.case_id, h.at, h.action, h.to_status, h.data,
       (SELECT w.data->>'assignee' FROM case_history w
        WHERE w.case_id = h.case_id AND w.id <= h.id AND w.data ? 'assignee'
        ORDER BY w.id DESC LIMIT 1) AS assignee,
       CASE WHEN h.to_status = 'closed' THEN
           (SELECT max(r.at) FROM case_history r
            WHERE r.case_id = h.case_id AND r.id < h.id AND r.action = 'resolve')
           <= (SELECT (d.data->>'resolve_by')::timestamptz FROM case_history d
               WHERE d.case_id = h.case_id AND d.id < h.id AND d.data ? 'resolve_by'
               ORDER BY d.id DESC LIMIT 1)
       END AS on_time
FROM case_history h
WHERE h.at >= %(since)s AND h.at < %(upto)s
  AND (h.to_status = 'closed'
       OR h.action IN ('verify', 'rate_satisfied', 'return', 'rate_unsatisfied', 'escalated'))
ORDER BY h.id
"""


def accrue(
    conn: psycopg.Connection[Any], amounts: PointsConfig, upto: datetime, now: datetime
) -> int:
    """Add the entries of history rows before ``upto``; returns how many were new."""
    added = 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK)
        row = conn.execute(
            "SELECT max(at) FROM points_ledger WHERE history_id IS NOT NULL"
        ).fetchone()
        since = (
            datetime.min.replace(tzinfo=upto.tzinfo)
            if row is None or row[0] is None
            else (row[0] - OVERLAP)
        )
        for hid, case_id, at, action, to_status, data, assignee, on_time in conn.execute(
            _ROWS, {"since": since, "upto": upto}
        ).fetchall():
            if assignee is None:
                continue
            for e in entries_for(Row(hid, case_id, action, to_status, data, on_time), amounts):
                cur = conn.execute(
                    "INSERT INTO points_ledger (person_id, at, kind, points, case_id, history_id,"
                    " source_key, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (source_key) DO NOTHING",
                    (assignee, at, e.kind, e.points, case_id, hid, e.key, now),
                )
                added += cur.rowcount
    return added


def redeem(
    conn: psycopg.Connection[Any], person: str, points: int, item: str, now: datetime, key: str
) -> int:
    """Exchange ``points`` of ``person``'s for ``item``; the balance after.

    ActionInputError when the balance does not cover it. ``key`` names the redemption
    (a voucher number), so a redemption sent twice is recorded once.
    """
    if points <= 0:
        raise ActionInputError("points", points, "a positive number of points to redeem")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK[0], person))
        done = conn.execute(
            "SELECT 1 FROM points_ledger WHERE source_key = %s", (f"redeem:{key}",)
        ).fetchone()
        if done is not None:
            return balance(conn, person)
        have = balance(conn, person)
        if have < points:
            raise ActionInputError("points", points, f"at most {person}'s balance of {have}")
        conn.execute(
            "INSERT INTO points_ledger (person_id, at, kind, points, source_key, note, recorded_at)"
            " VALUES (%s, %s, 'redeem', %s, %s, %s, %s) ON CONFLICT (source_key) DO NOTHING",
            (person, now, -points, f"redeem:{key}", item, now),
        )
        return balance(conn, person)


def balance(conn: psycopg.Connection[Any], person: str) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(points), 0) FROM points_ledger WHERE person_id = %s", (person,)
    ).fetchone()
    return 0 if row is None else int(row[0])


@dataclass(frozen=True, slots=True)
class Standing:
    person: str
    earned: int  # in the period, before the as-of moment
    lost: int  # negative: overdue and rework in the period
    redeemed: int  # negative
    balance: int  # everything before the as-of moment


def standings(
    conn: psycopg.Connection[Any], people: Iterable[str], start: datetime, as_of: datetime
) -> list[Standing]:
    """The period's points and the balance at ``as_of``, for ``people``."""
    rows = conn.execute(
        """
        SELECT person_id,
               coalesce(sum(points) FILTER (WHERE at >= %(start)s AND points > 0), 0),
               coalesce(sum(points) FILTER (WHERE at >= %(start)s AND points < 0
                                             AND kind <> 'redeem'), 0),
               coalesce(sum(points) FILTER (WHERE at >= %(start)s AND kind = 'redeem'), 0),
               coalesce(sum(points), 0)
        FROM points_ledger WHERE person_id = ANY(%(people)s) AND at < %(as_of)s
        GROUP BY person_id ORDER BY person_id
        """,
        {"people": sorted(set(people)), "start": start, "as_of": as_of},
    )
    return [Standing(str(p), int(e), int(lo), int(r), int(b)) for p, e, lo, r, b in rows]
