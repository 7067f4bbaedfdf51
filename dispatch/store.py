"""Shared SQL for cases: the dispatcher context, locks, history, participants, live pushes.

Every function here runs inside the caller's transaction, so a queue row, the
case it opens or joins, its history, notices and the live push commit together
or not at all: a dispatcher killed at any moment loses and duplicates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from dispatch.clock import Clock
from dispatch.config import DispatchConfig
from dispatch.lifecycle import AWAITING_ACCEPT
from dispatch.notify import Notifier
from dispatch.observe import DispatchObserver, NoObserver
from dispatch.routing import TownView
from dispatch.rows import CaseRow, column_list

log = logging.getLogger(__name__)

#: First half of every dispatcher advisory-lock key (the second is per category and area).
LOCK_NAMESPACE = 0x6477  # "dw"
LIVE_CHANNEL = "gridwatch_live"


@dataclass(frozen=True, slots=True)
class Context:
    """What the dispatcher needs besides a connection."""

    town: TownView
    config: DispatchConfig
    tz: ZoneInfo
    clock: Clock
    notifier: Notifier
    #: Told what each committed transaction did (the dispatcher's metrics).
    observer: DispatchObserver = field(default_factory=NoObserver)


# --------------------------------------------------------------------------- helpers


def lock_key(category: str, village_id: str | None, unit_id: str | None = None) -> str:
    """Cases merge only within one village, so (category, village) serialises merging.

    Case actions take the same lock, so no case changes status while a dispatcher
    is deciding whether an event joins it.
    """
    return f"{category}|{village_id or unit_id or ''}"


def take_locks(conn: psycopg.Connection[Any], keys: Sequence[str]) -> None:
    """Transaction-level advisory locks, taken one by one in sorted order (no deadlocks)."""
    ordered = sorted(set(keys))
    if ordered:
        conn.execute(
            "SELECT count(pg_advisory_xact_lock(%s, hashtext(k)))"
            " FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k OFFSET 0) AS s",
            (LOCK_NAMESPACE, ordered),
        )


def history(
    conn: psycopg.Connection[Any],
    case_id: int,
    at: datetime,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO case_history (case_id, at, actor, action, from_status, to_status, note, data)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (case_id, at, actor, action, from_status, to_status, note, Jsonb(data or {})),
    )


_FETCH = sql.SQL("SELECT {} FROM cases WHERE id = %s").format(column_list(CaseRow))


def fetch_case(
    conn: psycopg.Connection[Any], case_id: int, *, lock: bool = False
) -> CaseRow | None:
    query = _FETCH + sql.SQL(" FOR UPDATE") if lock else _FETCH
    with conn.cursor(row_factory=class_row(CaseRow)) as cur:
        return cur.execute(query, (case_id,)).fetchone()


_AWAIT_ACCEPT = [st.value for st in AWAITING_ACCEPT]

#: The console's case message, built in the database from the committed row.
_LIVE_SQL = """
SELECT pg_notify(%s, json_build_object(
    'type', 'case', 'id', id, 'category', category, 'status', status, 'unit_id', unit_id,
    'assignee', assignee, 'assignee_name', assignee_name,
    'deadline', CASE WHEN status = ANY(%s) THEN accept_by ELSE resolve_by END,
    'escalation_level', escalation_level, 'lon', lon, 'lat', lat, 'recurrence', recurrence,
    'departments', (SELECT coalesce(json_agg(t.department_id ORDER BY t.department_id), '[]')
                    FROM case_tasks t WHERE t.case_id = cases.id)
)::text)
FROM cases WHERE id = ANY(%s) ORDER BY id
"""


def push_live(conn: psycopg.Connection[Any], case_ids: int | Iterable[int]) -> None:
    """Tell consoles about cases as they are now; delivered only if the transaction commits.

    Message: ``{"type": "case", "id", "category", "status", "unit_id", "assignee",
    "assignee_name", "deadline", "escalation_level", "lon", "lat", "recurrence",
    "departments"}``; ``departments``: a joint case's task departments (else empty);
    ``deadline`` is accept-by while the case awaits acceptance, else resolve-by.
    """
    ids = [case_ids] if isinstance(case_ids, int) else sorted(set(case_ids))
    if ids:
        conn.execute(_LIVE_SQL, (LIVE_CHANNEL, _AWAIT_ACCEPT, ids))


def add_participant(
    conn: psycopg.Connection[Any],
    case_id: int,
    person: str,
    name: str | None,
    role: str,
    area_id: str | None,
    level: int,
    at: datetime,
) -> bool:
    cur = conn.execute(
        "INSERT INTO case_participants (case_id, person, name, role, area_id, level, added_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (case_id, person, name, role, area_id, level, at),
    )
    return cur.rowcount == 1
