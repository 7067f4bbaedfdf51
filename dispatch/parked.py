"""Events set aside because their case's deadline needs a year the calendar lacks.

A working-time deadline past the working calendar raises CalendarNotCovered. The
dispatcher then neither guesses the deadline nor crashes on the event again and
again (its batch would roll back, and the same events come first in the queue):
the event goes to ``dispatch_parked`` (migration 0020) in the batch's transaction,
with an error in the log naming the year, and the rest of the batch goes on. A
dispatcher that starts puts the parked events back in the queue, so once
``calendar.yaml`` covers the year, a restart opens their cases.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from dispatch.errors import CalendarNotCovered

log = logging.getLogger(__name__)


def park(
    conn: psycopg.Connection[Any],
    items: Sequence[tuple[UUID, datetime, CalendarNotCovered]],
    now: datetime,
) -> None:
    """Set the events aside, in the caller's transaction."""
    for event_id, ts, exc in items:
        log.error("event %s (%s) parked, no case opened: %s", event_id, ts.isoformat(), exc)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dispatch_parked (event_id, ts, parked_at, year, reason)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id, ts) DO UPDATE"
            " SET parked_at = EXCLUDED.parked_at, year = EXCLUDED.year,"
            " reason = EXCLUDED.reason",
            [(e, ts, now, exc.year, str(exc)) for e, ts, exc in items],
        )


def requeue(conn: psycopg.Connection[Any]) -> int:
    """Put every parked event back at the end of the queue, one transaction; how many."""
    with conn.transaction():
        rows = conn.execute(
            "DELETE FROM dispatch_parked RETURNING event_id, ts, parked_at"
        ).fetchall()
        if rows:
            rows.sort(key=lambda r: (r[2], r[1]))
            conn.execute(
                "INSERT INTO dispatch_batches (event_ids, ts) VALUES (%s, %s)",
                ([r[0] for r in rows], [r[1] for r in rows]),
            )
    if rows:
        log.warning("%d parked event(s) back in the dispatch queue", len(rows))
    return len(rows)


def count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM dispatch_parked").fetchone()
    return int(row[0]) if row else 0
