"""The report's SQL: each case as it stood at the as-of moment, escalations, the naming record.

Everything is read from ``case_history`` up to the as-of moment ``T`` (it is
append-only, so a past period's report reads the same later), with the scope as
one area id (unit, grid, village or town). Run on the API's scoped connection,
row-level security narrows it further to the caller's part of the town.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from dispatch.cadence.formulas import CaseFact, Ranked
from dispatch.deadlines import DeadlineTable
from dispatch.lifecycle import OPEN_STATUSES, Action

_SCOPE = "(%(area)s::text IS NULL OR %(area)s IN (c.unit_id, c.grid_id, c.village_id, c.town_id))"
_REWORK = [Action.RETURN.value, Action.RATE_UNSATISFIED.value, Action.REOPEN.value]
_RATED = [Action.RATE_SATISFIED.value, Action.RATE_UNSATISFIED.value]

#: Candidates: opened before T, and open now or changed since the period began (a case
#: not open now and unchanged since before the start was not open, nor closed, within it).
_FACTS = f"""
SELECT c.id, c.category, c.severity, c.unit_id, c.grid_id, c.village_id, c.department_id,
       coalesce(h.assignee, c.assignee) AS assignee, c.assignee, c.assignee_name, c.opened_at,
       c.opened_at >= %(start)s AS opened_in, coalesce(h.closed_in, false),
       coalesce(h.status_at, c.status), h.accept_by::timestamptz, h.resolve_by::timestamptz,
       h.first_accept_by::timestamptz, h.first_accept_at, h.last_resolve_at,
       coalesce(h.reworked, false), h.satisfied, h.mediation_outcome
FROM cases c
LEFT JOIN LATERAL (
    SELECT
        (array_agg(h.to_status ORDER BY h.id DESC)
            FILTER (WHERE h.to_status IS NOT NULL))[1] AS status_at,
        bool_or(h.to_status = 'closed' AND h.from_status IS DISTINCT FROM 'closed'
                AND h.at >= %(start)s) AS closed_in,
        min(h.at) FILTER (WHERE h.action = 'accept') AS first_accept_at,
        max(h.at) FILTER (WHERE h.action = 'resolve') AS last_resolve_at,
        bool_or(h.action = ANY(%(rework)s)) AS reworked,
        (array_agg(h.action = 'rate_satisfied' ORDER BY h.id DESC)
            FILTER (WHERE h.action = ANY(%(rated)s)))[1] AS satisfied,
        (array_agg(h.data->>'mediation_outcome' ORDER BY h.id DESC)
            FILTER (WHERE h.action = 'resolve'))[1] AS mediation_outcome,
        (array_agg(h.data->>'accept_by' ORDER BY h.id DESC)
            FILTER (WHERE h.data ? 'accept_by'))[1] AS accept_by,
        (array_agg(h.data->>'resolve_by' ORDER BY h.id DESC)
            FILTER (WHERE h.data ? 'resolve_by'))[1] AS resolve_by,
        (array_agg(h.data->>'accept_by' ORDER BY h.id)
            FILTER (WHERE h.action = 'created'))[1] AS first_accept_by,
        (array_agg(h.data->>'assignee' ORDER BY h.id DESC)
            FILTER (WHERE h.data ? 'assignee'))[1] AS assignee
    FROM case_history h
    WHERE h.case_id = c.id AND h.at < %(as_of)s
) h ON true
WHERE c.opened_at < %(as_of)s
  AND (c.status = ANY(%(open)s) OR c.updated_at >= %(start)s)
  AND {_SCOPE}
ORDER BY c.id
"""


def case_facts(
    conn: psycopg.Connection[Any],
    start: datetime,
    as_of: datetime,
    area: str | None,
    table: DeadlineTable,
) -> list[CaseFact]:
    """Every case the period's report counts, as it stood at ``as_of``."""
    params = {
        "start": start,
        "as_of": as_of,
        "area": area,
        "open": sorted(OPEN_STATUSES),
        "rework": _REWORK,
        "rated": _RATED,
    }
    out = []
    for r in conn.execute(_FACTS, params):
        (cid, cat, sev, unit, grid, village, dept, assignee, now_assignee, name, opened) = r[:11]
        out.append(
            CaseFact(
                id=cid,
                category=cat,
                unit_id=unit,
                grid_id=grid,
                village_id=village,
                department_id=dept,
                assignee=assignee,
                assignee_name=name if assignee == now_assignee else None,
                opened_at=opened,
                opened_in=r[11],
                closed_in=r[12],
                status=r[13],
                accept_by=r[14],
                resolve_by=r[15],
                first_accept_by=r[16],
                first_accept_at=r[17],
                last_resolve_at=r[18],
                reworked=r[19],
                satisfied=r[20],
                mediation_outcome=r[21],
                working_time=table.rule(cat, sev).working_time,
            )
        )
    return out


_ESCALATIONS = f"""
SELECT (h.data->>'to_level')::int AS level, count(*)
FROM case_history h JOIN cases c ON c.id = h.case_id
WHERE h.action IN ('escalated', 'escalate') AND h.at >= %(start)s AND h.at < %(as_of)s
  AND {_SCOPE}
GROUP BY 1 ORDER BY 1
"""


def escalations(
    conn: psycopg.Connection[Any], start: datetime, as_of: datetime, area: str | None
) -> dict[int, int]:
    """Rises within the period (by the timers or by hand), by the level risen to."""
    rows = conn.execute(_ESCALATIONS, {"start": start, "as_of": as_of, "area": area})
    return {int(level): int(n) for level, n in rows if level is not None}


#: A device silent this long counts as offline (the same 120 s as ``device_status_live``).
SILENT = timedelta(seconds=120)


@dataclass(frozen=True, slots=True)
class Offline:
    device: str
    state: str
    last_seen: datetime


def offline_devices(conn: psycopg.Connection[Any], as_of: datetime) -> list[Offline]:
    """Devices offline at ``as_of`` by the latest status each sent (``device_status`` keeps
    only that): not online, or silent for :data:`SILENT`; heard of by ``as_of``."""
    rows = conn.execute(
        "SELECT device_id, state, last_seen FROM device_status"
        " WHERE last_seen <= %(as_of)s AND (state <> 'online' OR last_seen < %(silent)s)"
        " ORDER BY last_seen, device_id",
        {"as_of": as_of, "silent": as_of - SILENT},
    )
    return [Offline(d, s, t) for d, s, t in rows]


@dataclass(frozen=True, slots=True)
class Named:
    person: str
    name: str | None
    fortnights: tuple[date, ...]


def record_named(
    conn: psycopg.Connection[Any], fortnight: date, bottom: Sequence[Ranked], now: datetime
) -> bool:
    """Store who was named in ``fortnight``, once: False when it was already recorded.

    The first complete run records; a later run, even over changed data, leaves the
    record as it was (the table also refuses UPDATE and DELETE, migration 0030). A
    fortnight in which nobody was ranked records nothing.
    """
    if not bottom:
        return False
    with conn.transaction():
        # One recorder per fortnight at a time, so two runs cannot each add their own list.
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x6772, fortnight.toordinal()))
        found = conn.execute(
            "SELECT 1 FROM ranking_named WHERE fortnight_start = %s LIMIT 1", (fortnight,)
        ).fetchone()
        if found is not None:
            return False
        for r in bottom:
            conn.execute(
                "INSERT INTO ranking_named (fortnight_start, person_id, name, position, score,"
                " terms, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    fortnight,
                    r.stats.person,
                    r.stats.name,
                    r.position,
                    r.terms.score,
                    Jsonb(
                        {
                            "cases": r.stats.cases,
                            "on_time": r.terms.on_time,
                            "overdue": r.terms.overdue,
                            "reopen": r.terms.reopen,
                            "accept": r.terms.accept,
                        }
                    ),
                    now,
                ),
            )
    return True


def named_at_least(conn: psycopg.Connection[Any], upto: date, times: int) -> list[Named]:
    """People named in ``times`` or more fortnights up to and including ``upto``."""
    rows = conn.execute(
        "SELECT person_id, max(name), array_agg(fortnight_start ORDER BY fortnight_start)"
        " FROM ranking_named WHERE fortnight_start <= %s GROUP BY person_id"
        " HAVING count(*) >= %s ORDER BY person_id",
        (upto, times),
    )
    return [Named(p, n, tuple(f)) for p, n, f in rows]


def recorded(conn: psycopg.Connection[Any], fortnight: date) -> list[tuple[str, int]]:
    """Who the record names for ``fortnight``, lowest first."""
    rows = conn.execute(
        "SELECT person_id, position FROM ranking_named WHERE fortnight_start = %s"
        " ORDER BY position",
        (fortnight,),
    )
    return [(str(p), int(n)) for p, n in rows]
