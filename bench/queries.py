"""The API's and console's read queries on 10 million stored events.

    python bench/queries.py [--events 10000000] [--days 8] [--units 600] [--repeat 300]

Creates a fresh database on the local PostgreSQL (``--admin-dsn``; dropped at the
end), migrates it (plain variant, production indexes), fills ``events`` with
``INSERT ... SELECT FROM generate_series`` spread over ``--days`` days and
``--units`` units, refreshes the hourly rollups as the gateway does, then times
the queries of ``gateway.db.queries`` (the code the API uses):

- ``latest_one_unit``: the 20 newest events of one random unit;
- ``latest_50_units``: the 5 newest events of each of 50 random units in one query;
- ``hourly_24h`` / ``hourly_7d``: events per category and hour over a day / a week,
  all units (rollup table plus the raw part from ``events``: the last 15 minutes, the
  worst case between the gateway's five-minute refreshes);
- ``hourly_7d_10_units``: the same for 10 units;
- ``events_one_unit`` / ``events_town``: ``GET /api/v1/events`` for one unit (50 rows)
  and for the whole town (100 rows), latest first.

Prints p50 / p99 / max in milliseconds per query; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridwatch.domain import CATEGORIES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._boxref import box_ref
from bench._pg import bench_database, parse_args

#: The synthetic events spread over the first eight of the domain's categories.
BENCH_CATEGORIES = list(CATEGORIES[:8])


def fill(conn: Any, events: int, days: int, units: int) -> float:
    """Insert ``events`` rows evenly over the last ``days`` days; returns seconds taken."""
    t = time.perf_counter()
    conn.execute("SELECT gridwatch_ensure_partitions(10, %s)", (days + 1,))
    # Bulk load: the live trigger would hold every row in a transition table.
    conn.execute("ALTER TABLE events DISABLE TRIGGER events_live")
    start = datetime.now(UTC) - timedelta(days=days)
    step_s = days * 86400 / events
    chunk = 1_000_000
    for lo in range(0, events, chunk):
        n = min(chunk, events - lo)
        conn.execute(
            """
            INSERT INTO events (event_id, ts, received_at, device_id, seq, rule, category,
                                severity, score, lon, lat, unit_id, extra)
            SELECT gen_random_uuid(), ts, ts, 'cam-' || (g %% 2000), g, 'intrusion',
                   (%(cats)s::text[])[1 + (g * 7) %% 8], 1 + g %% 4, 0.5,
                   119 + (g %% 1000) / 10000.0, 25.4 + (g %% 997) / 10000.0,
                   'U' || lpad(((g * 2654435761) %% %(units)s)::text, 4, '0'),
                   NULL
            FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g,
                 LATERAL (SELECT %(start)s::timestamptz + g * %(step)s * interval '1 second') t(ts)
            """,
            {"cats": BENCH_CATEGORIES, "units": units, "lo": lo, "hi": lo + n - 1,
             "start": start, "step": step_s},
        )  # fmt: skip
        print(json.dumps({"inserted": lo + n, "s": round(time.perf_counter() - t, 1)}), flush=True)
    conn.execute("ALTER TABLE events ENABLE TRIGGER events_live")
    # What autovacuum does after a bulk load (the BRIN index is autosummarize).
    conn.execute("VACUUM ANALYZE events")
    # The worst case between the gateway's refreshes: every five minutes, ten minutes
    # behind, so the raw part of each count reaches back fifteen minutes.
    conn.execute("SELECT gridwatch_refresh_rollups(margin => interval '15 minutes')")
    conn.execute("ANALYZE events_hourly_rollup")
    return time.perf_counter() - t


def timed(fn: Any, repeat: int) -> dict[str, float]:
    fn()  # warm the cache as a running gateway would be
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "p50_ms": round(times[len(times) // 2], 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        "max_ms": round(times[-1], 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--days", type=int, default=8)
    p.add_argument("--units", type=int, default=600)
    p.add_argument("--repeat", type=int, default=300)
    args = parse_args(p)

    import psycopg

    from gateway.db.migrate import migrate
    from gateway.db.queries import EventFilter, hourly_counts, latest_per_unit, list_events

    with bench_database(args.admin_dsn, "queries") as dsn:
        migrate(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            fill_s = fill(conn, args.events, args.days, args.units)
            rng = random.Random(3)
            units = [f"U{i:04d}" for i in range(args.units)]
            now = datetime.now(UTC)
            hour = now.replace(minute=0, second=0, microsecond=0)
            queries = {
                "latest_one_unit": lambda: latest_per_unit(conn, [rng.choice(units)], per_unit=20),
                "latest_50_units": lambda: latest_per_unit(conn, rng.sample(units, 50), per_unit=5),
                "hourly_24h": lambda: hourly_counts(
                    conn, hour - timedelta(hours=23), hour + timedelta(hours=1)
                ),
                "hourly_7d": lambda: hourly_counts(
                    conn, hour - timedelta(days=7), hour + timedelta(hours=1)
                ),
                "hourly_7d_10_units": lambda: hourly_counts(
                    conn,
                    hour - timedelta(days=7),
                    hour + timedelta(hours=1),
                    units=rng.sample(units, 10),
                ),
                "events_one_unit": lambda: list_events(
                    conn, EventFilter(unit=rng.choice(units), limit=50)
                ),
                "events_town": lambda: list_events(conn, EventFilter(limit=100)),
            }
            timings = {name: timed(fn, args.repeat) for name, fn in queries.items()}
            stored = conn.execute("SELECT count(*) FROM events").fetchone()
            check = sum(r.n for r in hourly_counts(conn, now - timedelta(days=30), now))
        for name, t in timings.items():
            print(json.dumps({name: t}), flush=True)
        result = {
            "box_ref": box_ref(),
            "events": int(stored[0]) if stored else 0,
            "rollup_total": check,
            "fill_s": round(fill_s, 1),
            "queries": timings,
            "worst_p99_ms": max(t["p99_ms"] for t in timings.values()),
            "target_p99_ms": 50,
            "cpus": os.cpu_count(),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
