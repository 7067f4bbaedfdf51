"""Plain-PostgreSQL storage of migration 0003: rollups, retention, NOTIFY, query layer, COPY."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from gateway.db.migrate import migrate
from gateway.db.queries import hourly_counts, latest_per_unit, sensor_hourly
from gateway.ingest.classify import Classified, EventRow, ReadingRow
from gateway.ingest.writer import QUEUE_ROW_KEYS, write

INSERT = (
    "INSERT INTO events (event_id, ts, device_id, seq, rule, category, unit_id, extra)"
    " SELECT gen_random_uuid(), %s::timestamptz + g * %s::interval, 'cam-1', g, 'r', %s, %s, '{}'"
    " FROM generate_series(0, %s - 1) g"
)


def _event(ts: datetime, seq: int, unit: str = "u1") -> EventRow:
    return EventRow(
        event_id=uuid.uuid4(), ts=ts, received_at=datetime.now(UTC), device_id="cam-1", seq=seq,
        rule="intrusion", category="intrusion", severity=2, phase="start", cls="person",
        score=0.5, track_id=None, zone=None, box=[1.0, 2.0, 3.0, 4.0], lon=119.0, lat=25.4,
        unit_id=unit, snapshot_sha256=None, snapshot_ref=None, summary="x", clock_skewed=False,
        extra='{"k": 1}',
    )  # fmt: skip


def test_hourly_rollups_follow_the_town_zone_and_count_late_rows(fresh_db: str) -> None:
    # A zone with a half-hour offset shows that buckets follow it, not UTC.
    migrate(fresh_db, tz="Asia/Kolkata")
    tz = ZoneInfo("Asia/Kolkata")
    now = datetime.now(tz)
    hour = now.replace(minute=0, second=0, microsecond=0)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("SET ROLE gridwatch_app")
        conn.execute(INSERT, (hour - timedelta(hours=5), "1 minute", "fire", "u1", 120))
        conn.execute("SELECT gridwatch_refresh_rollups()")
        # Late rows for closed buckets (an outbox drained after an outage), and fresh
        # rows (within the refresh margin, in this hour).
        fresh = max(hour, now - timedelta(minutes=1))
        conn.execute(INSERT, (hour - timedelta(hours=5), "1 second", "fire", "u2", 30))
        conn.execute(INSERT, (fresh, "1 second", "flood", "u1", 7))
        before_refresh = hourly_counts(conn, hour - timedelta(hours=6), hour + timedelta(hours=1))
        # A watermark inside this hour: its bucket is then part rollup, part raw.
        row = conn.execute(
            "SELECT gridwatch_refresh_rollups(margin => interval '0 seconds')"
        ).fetchone()
        assert row is not None
        conn.execute(
            INSERT, (row[0] + timedelta(milliseconds=1), "1 millisecond", "flood", "u1", 3)
        )
        after = hourly_counts(conn, hour - timedelta(hours=6), hour + timedelta(hours=1))
        only_u2 = hourly_counts(
            conn, hour - timedelta(hours=6), hour + timedelta(hours=1), units=["u2"]
        )
        view = conn.execute(
            "SELECT n FROM events_hourly_category WHERE category = 'flood'"
        ).fetchall()
    got = {(r.bucket.astimezone(tz), r.category): r.n for r in after}
    assert got == {
        (hour - timedelta(hours=5), "fire"): 60 + 30,
        (hour - timedelta(hours=4), "fire"): 60,
        (hour, "flood"): 7 + 3,
    }
    assert view == [(10,)]  # the view sums the split bucket too
    assert all(r.bucket.astimezone(tz).minute == 0 for r in after)
    # Fresh rows count before any refresh; late rows once the refresh reaches back.
    assert {(r.bucket.astimezone(tz), r.category): r.n for r in before_refresh}[
        (hour, "flood")
    ] == 7
    assert [(r.category, r.n) for r in only_u2] == [("fire", 30)]


def test_retention_drops_old_day_partitions_and_trims_the_rest(fresh_db: str) -> None:
    migrate(fresh_db)
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("SELECT gridwatch_ensure_partitions(10, 6)")
        for days in range(6):
            conn.execute(INSERT, (today - timedelta(days=days), "1 second", "fire", "u1", 10))
        # Far in the past: no partition, so the default partition holds it.
        conn.execute(INSERT, (today - timedelta(days=40), "1 second", "fire", "u1", 10))
        conn.execute(
            "INSERT INTO dead_letters (received_at, topic, reason, payload, payload_size)"
            " VALUES (now() - interval '40 days', 't', 'old', '', 0), (now(), 't', 'new', '', 0)"
        )
        conn.execute("UPDATE retention_policy SET keep = interval '3 days'")
        conn.execute("SET ROLE gridwatch_app")
        dropped = conn.execute("SELECT gridwatch_apply_retention()").fetchone()
        parts = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'events'::regclass"
            )
        }
        oldest = conn.execute("SELECT min(ts) FROM events").fetchone()
        letters = conn.execute("SELECT array_agg(reason) FROM dead_letters").fetchone()
    assert dropped is not None and dropped[0] >= 3
    assert f"events_p{(today - timedelta(days=5)):%Y%m%d}" not in parts
    assert f"events_p{(today - timedelta(days=2)):%Y%m%d}" in parts
    assert "events_default" in parts
    assert oldest is not None and oldest[0] >= today - timedelta(days=3, hours=12)
    assert letters == (["new"],)


def test_live_notify_per_event_for_small_statements_and_one_gap_for_bulk(fresh_db: str) -> None:
    migrate(fresh_db)
    now = datetime.now(UTC)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("LISTEN gridwatch_live")
        conn.execute(INSERT, (now, "1 second", "fire", "u1", 3))
        conn.execute(INSERT, (now + timedelta(hours=1), "1 second", "fire", "u1", 500))
        notes = [n.payload for n in conn.notifies(timeout=1, stop_after=5)]
    assert len(notes) == 4
    assert all('"type" : "event"' in n for n in notes[:3])
    assert '"type" : "gap"' in notes[3] and '"count" : 500' in notes[3]


def test_copy_writer_stores_duplicates_once_and_latest_per_unit_reads_them(
    fresh_db: str,
) -> None:
    migrate(fresh_db)
    now = datetime.now(UTC).replace(microsecond=0)
    evs = [_event(now - timedelta(minutes=i), i, unit=f"u{i % 3}") for i in range(30)]
    rows = Classified(
        events=(*evs, evs[0], evs[1]),
        readings=tuple(
            ReadingRow("box-1", now - timedelta(minutes=i), 100 + i, "level", float(i), "m", now)
            for i in range(10)
        ),
    )
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        first = write(conn, rows)
        again = write(conn, rows)
        latest = latest_per_unit(conn, ["u0", "u2", "nobody"], per_unit=4)
        sensors = sensor_hourly(conn, "box-1", now - timedelta(hours=2), now + timedelta(hours=1))
        queued = conn.execute("SELECT count(*) FROM dispatch_queue").fetchone()
    assert (first.new_events, first.duplicate_events, first.readings) == (30, 2, 10)
    assert (again.new_events, again.duplicate_events) == (0, 32)
    assert queued == (30,)
    assert [e.unit_id for e in latest] == ["u0"] * 4 + ["u2"] * 4
    assert [e.ts for e in latest[:4]] == [evs[i].ts for i in (0, 3, 6, 9)]
    assert sum(s.n for s in sensors) == 10
    assert max(s.max_value for s in sensors) == 9.0


def test_each_transaction_queues_its_new_events_as_one_dispatch_row(fresh_db: str) -> None:
    migrate(fresh_db)
    now = datetime.now(UTC).replace(microsecond=0)
    evs = [_event(now - timedelta(seconds=i), i) for i in range(8)]
    late = _event(now + timedelta(seconds=1), 99)

    def batches(conn: psycopg.Connection) -> list[list[str]]:
        rows = conn.execute("SELECT event_ids FROM dispatch_batches ORDER BY id").fetchall()
        return [[str(e) for e in r[0]] for r in rows]

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        write(conn, Classified(events=tuple(evs[:5])))  # all new: COPY straight in
        write(conn, Classified(events=tuple(evs[3:])))  # two stored already: staging path
        write(conn, Classified(events=tuple(evs)))  # nothing new: nothing queued
        write(conn, Classified(events=(late,)), copy=False)  # the row path
        got = batches(conn)
    assert got[0] == [str(e.event_id) for e in evs[:5]]
    # The staging path queues in time order; these events run backwards in time.
    assert got[1] == [str(e.event_id) for e in reversed(evs[5:])]
    assert got[2] == [str(late.event_id)]
    assert len(got) == 3


def test_a_large_transaction_is_queued_in_rows_of_at_most_queue_row_keys(fresh_db: str) -> None:
    """The dispatcher reads a whole row for every slice it takes: rows must stay small."""
    migrate(fresh_db)
    now = datetime.now(UTC).replace(microsecond=0)
    n = 2 * QUEUE_ROW_KEYS + 500
    evs = [_event(now + timedelta(milliseconds=i), i) for i in range(n)]
    sizes = "SELECT cardinality(event_ids) FROM dispatch_batches ORDER BY id"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        write(conn, Classified(events=tuple(evs)))  # COPY path
        first = [r[0] for r in conn.execute(sizes)]
        conn.execute("DELETE FROM dispatch_batches")
        conn.execute("DELETE FROM events WHERE seq % 2 = 0")
        write(conn, Classified(events=tuple(evs)))  # half stored already: staging path
        second = [r[0] for r in conn.execute(sizes)]
        keys = conn.execute("SELECT event_id FROM dispatch_queue ORDER BY batch_id, position")
        queued = [str(r[0]) for r in keys]
    assert first == [QUEUE_ROW_KEYS, QUEUE_ROW_KEYS, 500]
    assert second == [QUEUE_ROW_KEYS, n // 2 - QUEUE_ROW_KEYS]
    assert queued == [str(e.event_id) for e in evs if e.seq % 2 == 0]


def test_copy_writer_stores_extra_as_a_json_object(fresh_db: str) -> None:
    """The API and audits read extra fields; a JSON string holding JSON would hide them."""
    migrate(fresh_db)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = Classified(events=tuple(_event(now - timedelta(seconds=i), i) for i in range(5)))
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        write(conn, rows)
        # Again, so the staging path (taken on a unique conflict) is checked too.
        write(conn, Classified(events=(*rows.event_rows(), _event(now, 99))))
        kinds = conn.execute(
            "SELECT jsonb_typeof(extra), extra->>'k', count(*) FROM events GROUP BY 1, 2"
        ).fetchall()
    assert kinds == [("object", "1", 6)]


def test_a_bucket_split_by_the_watermark_gives_one_row_with_the_right_mean(fresh_db: str) -> None:
    migrate(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        wm = conn.execute("SELECT gridwatch_refresh_rollups(margin => '0 seconds')").fetchone()
        assert wm is not None
        at = wm[0] - timedelta(milliseconds=10)
        # Two values before the watermark, then a refresh moves it past them; one after.
        before = (ReadingRow("box-1", at, i, "level", v, "m", at) for i, v in enumerate((1.0, 2.0)))
        write(conn, Classified(readings=tuple(before)))
        wm2 = conn.execute("SELECT gridwatch_refresh_rollups(margin => '0 seconds')").fetchone()
        assert wm2 is not None
        late = wm2[0] + timedelta(milliseconds=1)
        write(conn, Classified(readings=(ReadingRow("box-1", late, 2, "level", 6.0, "m", late),)))
        hours = sensor_hourly(conn, "box-1", at - timedelta(hours=1), late + timedelta(hours=1))
    if (
        len(
            {
                at.replace(minute=0, second=0, microsecond=0),
                late.replace(minute=0, second=0, microsecond=0),
            }
        )
        > 1
    ):
        pytest.skip("the test straddled an hour boundary")
    assert [(h.n, h.avg_value, h.min_value, h.max_value) for h in hours] == [(3, 3.0, 1.0, 6.0)]
