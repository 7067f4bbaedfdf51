"""The event list and one event, in the order people read them.

An event's place in the list is its edge time, unless the gateway flagged the
box's clock as skewed: then it is the time the gateway received it, so an event
stamped 2099 by a wrong clock does not stay at the top. Migration 0007 indexes
exactly this expression (:data:`SEEN_AT`), alone and per unit and per device.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from dispatch.rows import column_list
from gateway.db.queries.fetch import fetch_all, fetch_one
from gateway.db.queries.filters import where
from gateway.db.rows import EventRow

#: The time an event is listed by (keep in step with the indexes of migration 0007).
SEEN_AT = sql.SQL("(CASE WHEN clock_skewed THEN received_at ELSE ts END)")


_COLUMNS = column_list(EventRow)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What to list; None means any. ``since``/``until`` bound :data:`SEEN_AT`."""

    device: str | None = None
    unit: str | None = None
    units: tuple[str, ...] | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


def events_query(f: EventFilter) -> tuple[sql.Composed, list[Any]]:
    """SQL and parameters for the event list, latest first (pure, so it is testable)."""
    clause, params = where(
        [
            (sql.SQL("device_id = %s"), f.device),
            (sql.SQL("unit_id = %s"), f.unit),
            (sql.SQL("unit_id = ANY (%s)"), None if f.units is None else (list(f.units),)),
            (sql.SQL("category = %s"), f.category),
            (SEEN_AT + sql.SQL(" >= %s"), f.since),
            (SEEN_AT + sql.SQL(" < %s"), f.until),
        ]
    )
    query = sql.SQL(
        "SELECT {cols} FROM events_visible{where} ORDER BY {seen} DESC LIMIT %s"
    ).format(cols=_COLUMNS, where=clause, seen=SEEN_AT)
    return query, [*params, f.limit]


def list_events(conn: psycopg.Connection[Any], f: EventFilter) -> list[EventRow]:
    query, params = events_query(f)
    return fetch_all(conn, EventRow, query, params)


def get_event(conn: psycopg.Connection[Any], event_id: UUID) -> EventRow | None:
    """One event by id (ids are unique; the key also holds ``ts``)."""
    query = sql.SQL("SELECT {cols} FROM events_visible WHERE event_id = %s LIMIT 1").format(
        cols=_COLUMNS
    )
    return fetch_one(conn, EventRow, query, (event_id,))
