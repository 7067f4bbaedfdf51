"""Dispatch capacity: one ``gridwatch dispatch`` process draining a pre-filled backlog.

:func:`capacity` starts the dispatcher on an empty queue of a fresh database,
waits until it is connected, then commits ``events`` queued events in one
transaction (as a burst of ingest would) and times the dispatcher until the
queue is empty. The same run measures the baseline, one event per transaction
(``--batch 1``), on a smaller backlog of the same mix.

The backlog mixes what a busy town sends: loitering and crowding around unit
points (they open and merge cases) and camera tampering at fresh points (each a
new case).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_FILL = """
WITH ins AS (
    INSERT INTO events (event_id, ts, received_at, device_id, seq, rule, category, severity,
                        phase, cls, score, lon, lat, summary, extra)
    SELECT e, t, t, d, s, c, c, 2, 'start', 'person', 0.8, x, y, c, '{}'::jsonb
    FROM unnest(%s::uuid[], %s::timestamptz[], %s::text[], %s::bigint[], %s::text[],
                %s::float8[], %s::float8[]) AS u(e, t, d, s, c, x, y)
    RETURNING event_id, ts)
INSERT INTO dispatch_batches (event_ids, ts)
SELECT array_agg(event_id ORDER BY ts, event_id), array_agg(ts ORDER BY ts, event_id)
FROM (SELECT event_id, ts, (row_number() OVER (ORDER BY ts, event_id) - 1) / 1000 AS chunk
      FROM ins) c
GROUP BY chunk ORDER BY chunk
"""


def backlog(town: Any, n: int, seed: int) -> tuple[list[Any], ...]:
    """``n`` events as columns for :data:`_FILL`, one second of event time apart per 1,000."""
    import numpy as np

    rng = np.random.default_rng(seed)
    units = list(town.hierarchy.unit_ids)
    geoms = town.hierarchy.geometries
    pts = [geoms[u].representative_point() for u in units]
    cams = sorted(d.id for d in town.devices.values())
    start = datetime.now(UTC) - timedelta(seconds=n / 1000 + 5)
    ids, ts, devs, seqs, cats, xs, ys = [], [], [], [], [], [], []
    for i in range(n):
        p = pts[int(rng.integers(len(pts)))]
        if i % 10 == 0:
            cat = "camera_tamper"
            x = float(p.x) + float(rng.uniform(-1e-4, 1e-4))
            y = float(p.y) + float(rng.uniform(-1e-4, 1e-4))
        else:
            cat = "loitering" if i % 2 else "crowding"
            x, y = float(p.x), float(p.y)
        ids.append(uuid.uuid4())
        ts.append(start + timedelta(milliseconds=i))
        devs.append(cams[i % len(cams)])
        seqs.append(i)
        cats.append(cat)
        xs.append(x)
        ys.append(y)
    return ids, ts, devs, seqs, cats, xs, ys


def _depth(conn: Any) -> int:
    row = conn.execute("SELECT queued_for_dispatch()").fetchone()
    return int(row[0]) if row else 0


def drain_rate(
    dsn: str, env: dict[str, str], town: Any, events: int, batch: int, timeout_s: float
) -> dict[str, Any]:
    """Events per second one dispatcher process with ``--batch batch`` drains ``events``."""
    import psycopg

    cols = backlog(town, events, seed=events + batch)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridwatch.cli", "dispatch", "--batch", str(batch)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # connected: its session shows up
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'gridwatch-dispatch'"
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            with conn.transaction():
                conn.execute(_FILL, cols)
            t0 = time.perf_counter()
            left = events
            while left > 0 and time.perf_counter() - t0 < timeout_s:
                time.sleep(0.05)
                left = _depth(conn)
            seconds = time.perf_counter() - t0
            done = events - left
            row = conn.execute("SELECT count(*) FROM case_events").fetchone()
            held = int(row[0]) if row else 0
            conn.execute("TRUNCATE cases, case_events, case_history CASCADE")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "events_per_s": round(done / seconds) if seconds > 0 else None,
        "events": events,
        "dispatched": done,
        "held_by_cases": held,
        "seconds": round(seconds, 2),
        "batch": batch,
    }


def capacity(
    town: Any, config_dir: Path, events: int, baseline_events: int, batch: int
) -> dict[str, Any]:
    """``capacity_events_per_s`` and its one-event-per-transaction baseline, same run."""
    from bench._pg import admin_dsn
    from gateway.db.migrate import migrate
    from gridwatch.services import create_database, drop_database, free_port

    name = f"gwbench_capacity_{uuid.uuid4().hex[:8]}"
    admin = admin_dsn()
    dsn = create_database(admin, name)
    env = {
        **os.environ,
        "GRIDWATCH_DATABASE_URL": dsn,
        "GRIDWATCH_CONFIG_DIR": str(config_dir),
        "GRIDWATCH_HTTP_PORT": str(free_port()),
    }
    try:
        migrate(dsn)
        ours = drain_rate(dsn, env, town, events, batch, timeout_s=120)
        base = drain_rate(dsn, env, town, baseline_events, 1, timeout_s=60)
    finally:
        drop_database(admin, name)
    return {
        "capacity_events_per_s": ours["events_per_s"],
        "capacity_run": ours,
        "baseline_one_event_per_transaction_events_per_s": base["events_per_s"],
        "baseline_one_event_per_transaction_run": base,
    }
