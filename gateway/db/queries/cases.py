"""The case list and one case with its events, history, participants and tasks.

The list is ordered by id, newest first: a stable key, so a cursor (the last id
seen) pages without repeats or gaps while new cases arrive at the top.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, get_type_hints
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import args_row

from dispatch.joint import TaskRow, tasks_of
from dispatch.lifecycle import AWAITING_ACCEPT, OPEN_STATUSES
from dispatch.rows import CaseRow, CaseSummary, HistoryRow, ParticipantRow, column_list
from gateway.db.queries.fetch import fetch_all, fetch_one
from gateway.db.queries.filters import where

_OPEN = sorted(s.value for s in OPEN_STATUSES)
_AWAITING_ACCEPT = sorted(s.value for s in AWAITING_ACCEPT)
_LIST_COLUMNS = column_list(CaseSummary)


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What to list; None means any. ``overdue`` compares the deadlines with ``now``."""

    status: str | None = None
    source: str | None = None
    category: str | None = None
    unit: str | None = None
    grid: str | None = None
    village: str | None = None
    department: str | None = None
    assignee: str | None = None
    escalation_level: int | None = None
    overdue: bool | None = None
    now: datetime | None = None
    opened_since: datetime | None = None
    opened_until: datetime | None = None
    before_id: int | None = None
    limit: int = 50
    #: The caller's ``Scope.bound`` (kind, id): a plan hint, never a permission; row-level
    #: security decides what is seen. Without it the list walks the primary key
    #: backwards and checks the policy on every case until it has a page.
    within: tuple[str, str] | None = None


#: Areas as ``CaseFilter`` names them (its fields and its ``within`` kinds), and their columns.
_AREA_COLUMNS = {
    "unit": "unit_id",
    "grid": "grid_id",
    "village": "village_id",
    "department": "department_id",
}
#: ``CaseFilter`` fields that ask for one value of the column of the same name.
_SAME_NAME = ("status", "source", "category", "assignee", "escalation_level")


def _equals(column: str) -> sql.Composed:
    return sql.SQL("{} = %s").format(sql.Identifier(column))


#: (``CaseFilter`` field, condition) of every filter that asks for one value of a column.
_EQUALS = [(name, _equals(name)) for name in _SAME_NAME] + [
    (name, _equals(column)) for name, column in _AREA_COLUMNS.items()
]

#: Open and past a deadline that still runs (accept-by only before acceptance).
_OVERDUE = sql.SQL(
    "(status = ANY (%s) AND (resolve_by < coalesce(%s::timestamptz, now())"
    " OR (status = ANY (%s) AND accept_by < coalesce(%s::timestamptz, now()))))"
)


def cases_query(
    f: CaseFilter, columns: sql.Composable = _LIST_COLUMNS
) -> tuple[sql.Composed, list[Any]]:
    """SQL and parameters for the case list, newest first (pure, so it is testable)."""
    overdue_args = (_OPEN, f.now, _AWAITING_ACCEPT, f.now)
    conditions: list[tuple[sql.Composable, Any]] = [
        *((condition, getattr(f, name)) for name, condition in _EQUALS),
        (sql.SQL("opened_at >= %s"), f.opened_since),
        (sql.SQL("opened_at < %s"), f.opened_until),
        (sql.SQL("id < %s"), f.before_id),
    ]
    if f.within is not None:
        kind, value = f.within
        if kind not in _AREA_COLUMNS:
            raise ValueError(f"within kind {kind!r} is not one of {sorted(_AREA_COLUMNS)}")
        conditions.append((_equals(_AREA_COLUMNS[kind]), value))
    if f.overdue is True:
        conditions.append((_OVERDUE, overdue_args))
    elif f.overdue is False:
        conditions.append((sql.SQL("NOT coalesce({}, false)").format(_OVERDUE), overdue_args))
    clause, params = where(conditions)
    query = sql.SQL("SELECT {cols} FROM cases{where} ORDER BY id DESC LIMIT %s").format(
        cols=columns, where=clause
    )
    return query, [*params, f.limit]


#: A timestamptz as Python's JSON encoders write it (msgspec, pydantic): UTC with "Z",
#: microseconds only when there are some. PostgreSQL's own JSON writes "+00:00" and
#: trims trailing zeros, which would differ from every other endpoint's times.
_UTC_TEXT = (
    "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    " || CASE WHEN date_part('microseconds', {c})::int %% 1000000 = 0 THEN ''"
    " ELSE to_char({c} AT TIME ZONE 'UTC', '.US') END || 'Z'"
)


def _json_column(name: str, kind: Any) -> sql.Composable:
    column = sql.Identifier(name)
    if kind in (datetime, datetime | None):
        return sql.SQL(_UTC_TEXT + " AS {n}").format(c=column, n=column)
    return column


_JSON_COLUMNS = sql.SQL(", ").join(
    _json_column(f.name, get_type_hints(CaseSummary)[f.name]) for f in fields(CaseSummary)
)


@dataclass(frozen=True, slots=True)
class CasePage:
    """A page of the case list as JSON bytes, encoded by PostgreSQL (a JSON array of
    objects with CaseSummary's fields in order: what ``list_cases`` rows encode to)."""

    body: bytes
    count: int
    last_id: int | None


def list_cases_json(conn: psycopg.Connection[Any], f: CaseFilter) -> CasePage:
    """:func:`list_cases` as the API sends it, built in the database.

    The busiest read of the API: building the JSON in PostgreSQL instead of parsing 50
    rows of 24 columns into dataclasses and encoding them again took the page from about
    0.95 to 0.3 ms of gateway CPU (measured on 1,000,000 cases, docs/api.md).
    """
    query, params = _page_query(f)
    return _page(conn.execute(query, params).fetchone())


async def list_cases_json_async(conn: psycopg.AsyncConnection[Any], f: CaseFilter) -> CasePage:
    """:func:`list_cases_json` on an async connection (the API's case list)."""
    query, params = _page_query(f)
    cur = await conn.execute(query, params)
    return _page(await cur.fetchone())


def _page_query(f: CaseFilter) -> tuple[sql.Composed, list[Any]]:
    query, params = cases_query(f, columns=_JSON_COLUMNS)
    wrapped = sql.SQL(
        "SELECT '[' || coalesce(string_agg(row_to_json(t)::text, ',' ORDER BY t.id DESC), '')"
        " || ']', count(*), min(t.id) FROM ({}) t"
    ).format(query)
    return wrapped, params


def _page(row: tuple[Any, ...] | None) -> CasePage:
    assert row is not None  # an aggregate always returns its one row
    return CasePage(body=str(row[0]).encode(), count=int(row[1]), last_id=row[2])


def list_cases(conn: psycopg.Connection[Any], f: CaseFilter) -> list[CaseSummary]:
    query, params = cases_query(f)
    # Positional (the columns are CaseSummary's fields in order): class_row builds a
    # keyword dict per row, about 1 ms more for a page of 50.
    with conn.cursor(row_factory=args_row(CaseSummary)) as cur:
        cur.execute(query, params)
        return cur.fetchall()


@dataclass(frozen=True, slots=True)
class CaseEventRow:
    """An event the case holds, with its evidence (snapshot hash and reference)."""

    event_id: UUID
    ts: datetime
    phase: str
    device_id: str | None
    rule: str | None
    score: float | None
    summary: str | None
    snapshot_sha256: str | None
    snapshot_ref: str | None
    #: The object's crop (the event's ``crop``), kept in ``events.extra``.
    crop_sha256: str | None
    #: Which of the two the gateway holds (GET /api/v1/snapshots/{sha256}); a snapshot
    #: that arrives after its event appears here when it does.
    held: list[str]


@dataclass(frozen=True, slots=True)
class CaseDetail(CaseRow):
    """One case: its row, plus what it holds and who touched it."""

    events: tuple[CaseEventRow, ...] = ()
    history: tuple[HistoryRow, ...] = ()
    participants: tuple[ParticipantRow, ...] = ()
    #: A joint case's department tasks (dispatch.joint); none for a plain case.
    tasks: tuple[TaskRow, ...] = ()


_DETAIL_COLUMNS = column_list(CaseRow)
_CASE_EVENTS = sql.SQL(
    "SELECT ce.event_id, ce.ts, ce.phase, e.device_id, e.rule, e.score, e.summary,"
    " e.snapshot_sha256, e.snapshot_ref, e.extra -> 'crop' ->> 'sha256' AS crop_sha256,"
    " ARRAY(SELECT s.sha256 FROM snapshots s"
    "  WHERE s.sha256 IN (e.snapshot_sha256, e.extra -> 'crop' ->> 'sha256')"
    "  ORDER BY s.role DESC) AS held"
    " FROM case_events ce"
    " LEFT JOIN events_visible e ON e.event_id = ce.event_id AND e.ts = ce.ts"
    " WHERE ce.case_id = %s ORDER BY ce.ts, ce.event_id"
)
_HISTORY = sql.SQL("SELECT {} FROM case_history WHERE case_id = %s ORDER BY id").format(
    column_list(HistoryRow)
)
_PARTICIPANTS = sql.SQL(
    "SELECT {} FROM case_participants WHERE case_id = %s ORDER BY added_at, role, person"
).format(column_list(ParticipantRow))


def get_case(conn: psycopg.Connection[Any], case_id: int) -> CaseDetail | None:
    """One case with its events, history and participants; None when absent (or hidden)."""
    query = sql.SQL("SELECT {cols} FROM cases WHERE id = %s").format(cols=_DETAIL_COLUMNS)
    case = fetch_one(conn, CaseDetail, query, (case_id,))
    if case is None:
        return None
    return replace(
        case,
        events=tuple(fetch_all(conn, CaseEventRow, _CASE_EVENTS, (case_id,))),
        history=tuple(fetch_all(conn, HistoryRow, _HISTORY, (case_id,))),
        participants=tuple(fetch_all(conn, ParticipantRow, _PARTICIPANTS, (case_id,))),
        tasks=tuple(tasks_of(conn, case_id)),
    )
