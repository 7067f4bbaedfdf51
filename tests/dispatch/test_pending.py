"""The dispatch queue of batches: slices, locks, events gone, and the move from 0005."""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dispatch import pending
from dispatch.batch import dispatch_batch
from dispatch.clock import ManualClock
from dispatch.store import Context
from gateway.db.migrate import MIGRATIONS_DIR, migrate
from tests.dispatch.conftest import TownFixture

pytestmark = pytest.mark.services


def store_events(
    conn: psycopg.Connection[Any], zhongmen: TownFixture, at: datetime, n: int, *, unit: int = 1
) -> list[tuple[uuid.UUID, datetime]]:
    """``n`` stored events queued as one row, as one ingest transaction queues them."""
    lon, lat = zhongmen.point_in(zhongmen.unit(unit))
    keys = [(uuid.uuid4(), at + timedelta(seconds=i)) for i in range(n)]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (event_id, ts, device_id, seq, rule, category, severity, lon, lat)"
            " VALUES (%s, %s, 'cam-q', %s, 'smoke', 'fire_smoke', 1, %s, %s)",
            [(eid, ts, i, lon, lat) for i, (eid, ts) in enumerate(keys)],
        )
        cur.execute(
            "INSERT INTO dispatch_batches (event_ids, ts) VALUES (%s, %s)",
            ([k[0] for k in keys], [k[1] for k in keys]),
        )
    return keys


def held_events(conn: psycopg.Connection[Any]) -> list[uuid.UUID]:
    return [r[0] for r in conn.execute("SELECT event_id FROM case_events ORDER BY ts")]


def test_a_large_batch_is_dispatched_in_slices_each_event_once(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    keys = store_events(conn, zhongmen, clock.now(), 7)
    assert pending.depth(conn) == 7
    assert dispatch_batch(conn, ctx, limit=3) == 3
    # The row stays, moved on by the slice; the view lists what is left, in order.
    assert conn.execute("SELECT done FROM dispatch_batches").fetchall() == [(3,)]
    left = [r[0] for r in conn.execute("SELECT event_id FROM dispatch_queue ORDER BY position")]
    assert left == [k[0] for k in keys[3:]]
    assert pending.depth(conn) == 4
    assert dispatch_batch(conn, ctx, limit=3) == 3
    assert dispatch_batch(conn, ctx, limit=3) == 1
    assert dispatch_batch(conn, ctx, limit=3) == 0
    assert conn.execute("SELECT count(*) FROM dispatch_batches").fetchone() == (0,)
    assert held_events(conn) == [k[0] for k in keys]
    # Seven fire events at one point merge into one case.
    assert conn.execute("SELECT count(*), sum(recurrence) FROM cases").fetchone() == (1, 7)


def test_one_claim_spans_several_small_rows(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    first = store_events(conn, zhongmen, clock.now(), 2)
    second = store_events(conn, zhongmen, clock.now() + timedelta(seconds=10), 2)
    assert dispatch_batch(conn, ctx, limit=3) == 3
    assert conn.execute("SELECT cardinality(event_ids), done FROM dispatch_batches").fetchall() == [
        (2, 1)
    ]
    assert dispatch_batch(conn, ctx, limit=3) == 1
    assert held_events(conn) == [k[0] for k in first + second]


def test_a_locked_row_is_skipped_by_another_dispatcher(
    db: str, conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    first = store_events(conn, zhongmen, clock.now(), 2, unit=1)
    second = store_events(conn, zhongmen, clock.now(), 2, unit=2)
    with psycopg.connect(db) as other:
        claims, rows = pending.claim(other, 10)
        # Both rows are free: one claim takes both.
        assert [c.batch_id for c in claims] == [1, 2]
        assert [r.event_id for r in rows] == [k[0] for k in first + second]
        other.rollback()
    with psycopg.connect(db) as other, other.transaction():
        holder = other.execute("SELECT id FROM dispatch_batches WHERE id = 1 FOR UPDATE")
        assert holder.fetchone() == (1,)
        # Row 1 is held by another transaction: this dispatcher takes row 2 only.
        assert dispatch_batch(conn, ctx, limit=10) == 2
    assert held_events(conn) == [k[0] for k in second]
    assert dispatch_batch(conn, ctx, limit=10) == 2
    assert conn.execute("SELECT count(*) FROM dispatch_batches").fetchone() == (0,)


def test_a_key_whose_event_is_gone_is_dropped_and_the_rest_dispatched(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, clock: ManualClock
) -> None:
    keys = store_events(conn, zhongmen, clock.now(), 3)
    conn.execute("DELETE FROM events WHERE event_id = %s", (keys[1][0],))
    assert dispatch_batch(conn, ctx) == 3
    assert held_events(conn) == [keys[0][0], keys[2][0]]
    assert pending.depth(conn) == 0


def test_claim_refuses_a_limit_below_one(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(ValueError, match="limit: 0, expected at least 1"):
        pending.claim(conn, 0)


def test_rows_queued_before_migration_6_wait_on_in_their_order(
    fresh_db: str, tmp_path: Path
) -> None:
    old = tmp_path / "migrations"
    old.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if int(path.name[:4]) <= 5:
            shutil.copy(path, old / path.name)
    migrate(fresh_db, directory=old)
    base = datetime.fromisoformat("2025-09-16T01:00:00+00:00")
    keys = [(uuid.uuid4(), base + timedelta(seconds=s)) for s in (5, 1, 3)]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        for i, (eid, ts) in enumerate(keys):
            conn.execute(
                "INSERT INTO dispatch_queue (event_id, ts, enqueued_at) VALUES (%s, %s, %s)",
                (eid, ts, base + timedelta(minutes=i)),
            )
        assert migrate(fresh_db)[0] == "0006_dispatch_batches (plain)"  # later ones follow
        rows = conn.execute("SELECT event_id, ts FROM dispatch_queue ORDER BY position").fetchall()
        assert rows == keys  # enqueue order, not time order
        assert pending.depth(conn) == 3
        assert conn.execute("SELECT count(*) FROM dispatch_batches").fetchone() == (1,)
