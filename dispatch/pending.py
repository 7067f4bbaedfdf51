"""The events waiting for dispatch: claim a slice of ``dispatch_batches``, then finish it.

Ingest queues the keys of each transaction's new events in rows of up to 1,000
(migration 0006). A dispatcher locks rows ``FOR UPDATE SKIP LOCKED``, oldest first, takes
up to ``limit`` keys from where each row's ``done`` stands, and in the same
transaction that writes the cases moves ``done`` on or deletes the row. Killed
at any point, the transaction rolls back and the slice is claimed again.
Another dispatcher skips a locked row, so two never take the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row

from dispatch.rows import QueuedEvent


@dataclass(frozen=True)
class Claim:
    """A slice of one queued row: keys ``done + 1 .. done + taken`` (1-based, SQL arrays)."""

    batch_id: int
    done: int
    taken: int
    size: int

    @property
    def finished(self) -> bool:
        return self.done + self.taken >= self.size


@dataclass(frozen=True, slots=True)
class _Queued:
    id: int
    done: int
    size: int


_LOCK = """
SELECT id, done, cardinality(event_ids) AS size
FROM dispatch_batches
WHERE id > %s
ORDER BY id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""

# The event behind each key, in the row's order. LEFT JOIN: a key whose event is
# gone (retention ran first) comes back with NULL columns and is dropped.
_READ = """
SELECT k.event_id, k.ts, e.received_at, e.device_id, e.category, e.severity, e.phase,
       e.lon, e.lat, e.unit_id, e.summary, e.clock_skewed, e.rule,
       e.snapshot_sha256, e.extra -> 'crop' ->> 'sha256' AS crop_sha256
FROM dispatch_batches b
CROSS JOIN LATERAL unnest(b.event_ids[%(first)s:%(last)s], b.ts[%(first)s:%(last)s])
    WITH ORDINALITY AS k(event_id, ts, n)
LEFT JOIN events e ON e.event_id = k.event_id AND e.ts = k.ts
WHERE b.id = %(id)s
ORDER BY k.n
"""


def claim(conn: psycopg.Connection[Any], limit: int) -> tuple[list[Claim], list[QueuedEvent]]:
    """Lock queued rows until ``limit`` keys are claimed; return the claims and event rows.

    Call inside a transaction: the locks hold until it ends.
    """
    if limit < 1:
        raise ValueError(f"limit: {limit!r}, expected at least 1")
    claims: list[Claim] = []
    rows: list[QueuedEvent] = []
    after = 0
    with (
        conn.cursor(row_factory=class_row(_Queued)) as cur,
        conn.cursor(row_factory=class_row(QueuedEvent)) as read,
    ):
        while len(rows) < limit:
            head = cur.execute(_LOCK, (after,)).fetchone()
            if head is None:
                break
            after, done, size = head.id, head.done, head.size
            taken = min(size - done, limit - len(rows))
            rows.extend(read.execute(_READ, {"id": after, "first": done + 1, "last": done + taken}))
            claims.append(Claim(after, done, taken, size))
    return claims, rows


def finish(conn: psycopg.Connection[Any], claims: list[Claim]) -> None:
    """Mark the claimed slices dispatched, in the caller's transaction."""
    ended = [c.batch_id for c in claims if c.finished]
    if ended:
        conn.execute("DELETE FROM dispatch_batches WHERE id = ANY(%s)", (ended,))
    moved = [(c.done + c.taken, c.batch_id) for c in claims if not c.finished]
    if moved:
        with conn.cursor() as cur:
            cur.executemany("UPDATE dispatch_batches SET done = %s WHERE id = %s", moved)


def depth(conn: psycopg.Connection[Any]) -> int:
    """How many events wait for dispatch (cheap: no unnesting)."""
    row = conn.execute("SELECT queued_for_dispatch()").fetchone()
    return int(row[0]) if row else 0
