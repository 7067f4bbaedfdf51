"""Real dispatcher processes: killed mid-stream, and three at once, lose and duplicate nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from dispatch.merge import distance_m
from tests.dispatch.conftest import TownFixture

pytestmark = [pytest.mark.services, pytest.mark.slow]


def spread_points(zhongmen: TownFixture, count: int, min_gap_m: float) -> list[tuple[float, float]]:
    """Points in distinct units, each at least ``min_gap_m`` from every other."""
    points: list[tuple[float, float]] = []
    for unit in zhongmen.town.hierarchy.unit_ids:
        p = zhongmen.point_in(unit)
        if all(distance_m(*p, *q) >= min_gap_m for q in points):
            points.append(p)
            if len(points) == count:
                return points
    raise AssertionError(f"only {len(points)} points {min_gap_m} m apart")


def build_stream(
    zhongmen: TownFixture, groups: int, per_group: int
) -> list[tuple[uuid.UUID, datetime, float, float, int]]:
    """``groups`` clusters of ``per_group`` intrusion events each, built to merge per cluster.

    Events of one cluster are consecutive in the queue, so concurrent dispatchers
    claim events of the same cluster at the same moment: the merge race.
    """
    now = datetime.now(UTC)
    rows = []
    for g, (lon, lat) in enumerate(spread_points(zhongmen, groups, 400)):
        for i in range(per_group):
            # within 20 m and 10 minutes of each other: intrusion merges at 100 m, 30 min
            rows.append((uuid.uuid4(), now + timedelta(seconds=i), lon + i * 2e-5, lat, g))
    return rows


def load(
    conn: psycopg.Connection[Any], rows: list[tuple[uuid.UUID, datetime, float, float, int]]
) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """
            WITH ins AS (
                INSERT INTO events (event_id, ts, device_id, seq, rule, category, severity, lon,
                    lat, extra)
                VALUES (%s, %s, %s, %s, 'intrusion', 'intrusion', 2, %s, %s, '{}'::jsonb)
                RETURNING event_id, ts)
            INSERT INTO dispatch_batches (event_ids, ts)
            SELECT array_agg(event_id), array_agg(ts) FROM ins
            """,
            [(eid, ts, f"cam-{g}", n, lon, lat) for n, (eid, ts, lon, lat, g) in enumerate(rows)],
        )


def partition(conn: psycopg.Connection[Any]) -> set[frozenset[str]]:
    rows = conn.execute(
        "SELECT array_agg(event_id::text) FROM case_events GROUP BY case_id"
    ).fetchall()
    return {frozenset(r[0]) for r in rows}


class Dispatchers:
    def __init__(self, db: str, config_dir: str) -> None:
        self.db, self.config_dir = db, config_dir
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, count: int, *extra: str) -> list[subprocess.Popen[str]]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        started = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gridwatch.cli",
                    "dispatch",
                    "--config-dir",
                    self.config_dir,
                    "--database-url",
                    self.db,
                    *extra,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
            for _ in range(count)
        ]
        self.procs += started
        return started

    def run_once(self) -> dict[str, Any]:
        """Run one `dispatch --once` to completion and return its closing JSON summary."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "gridwatch.cli",
                "dispatch",
                "--once",
                "--config-dir",
                self.config_dir,
                "--database-url",
                self.db,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return summary

    def wait_connected(self, conn: psycopg.Connection[Any], count: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'gridwatch-dispatch' AND datname = current_database()"
            ).fetchone()
            if row and row[0] >= count:
                return
            for p in self.procs:
                assert p.poll() is None, f"dispatcher exited early with {p.returncode}"
            time.sleep(0.1)
        raise AssertionError("dispatchers did not connect within 60 s")

    def stop(self, proc: subprocess.Popen[str]) -> dict[str, int]:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        return dict(json.loads(out.strip().splitlines()[-1]))

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=30)


@pytest.fixture
def dispatchers(db: str, zhongmen: TownFixture) -> Iterator[Dispatchers]:
    d = Dispatchers(db, str(zhongmen.config_dir))
    try:
        yield d
    finally:
        d.close()


def wait_drained(conn: psycopg.Connection[Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.execute("SELECT count(*) FROM dispatch_queue").fetchone() == (0,):
            return
        time.sleep(0.1)
    raise AssertionError("queue not drained")


@pytest.mark.faults
def test_a_dispatcher_killed_mid_stream_and_restarted_opens_every_case_once(
    conn: psycopg.Connection[Any], dispatchers: Dispatchers, zhongmen: TownFixture
) -> None:
    rows = build_stream(zhongmen, groups=120, per_group=5)
    [proc] = dispatchers.start(1, "--batch", "1")
    dispatchers.wait_connected(conn, 1)
    load(conn, rows)
    while conn.execute("SELECT count(*) FROM cases").fetchone() < (20,):  # type: ignore[operator]
        assert proc.poll() is None
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    left = conn.execute("SELECT count(*) FROM dispatch_queue").fetchone()
    assert left is not None and left[0] > 0, "the kill landed after the stream was done"
    assert dispatchers.run_once()["events"] == left[0]
    expected = {frozenset(str(r[0]) for r in rows if r[4] == g) for g in range(120)}
    assert partition(conn) == expected
    assert conn.execute("SELECT count(*), sum(recurrence) FROM cases").fetchone() == (120, 600)
    created = conn.execute("SELECT count(*) FROM case_history WHERE action = 'created'").fetchone()
    assert created == (120,)
    assert conn.execute("SELECT count(*) FROM dispatch_queue").fetchone() == (0,)


def test_three_dispatchers_make_exactly_the_cases_one_dispatcher_makes(
    conn: psycopg.Connection[Any], dispatchers: Dispatchers, zhongmen: TownFixture
) -> None:
    rows = build_stream(zhongmen, groups=60, per_group=10)
    load(conn, rows)
    assert dispatchers.run_once()["events"] == len(rows)
    single = partition(conn)
    assert len(single) == 60
    # Forget the cases and queue every event again, then let three processes race.
    conn.execute(
        "TRUNCATE case_events, case_history, case_participants, notification_attempts,"
        " notifications, case_reminders, open311_requests, case_tasks, case_messages, cases"
        " RESTART IDENTITY"
    )
    procs = dispatchers.start(3, "--batch", "2")
    dispatchers.wait_connected(conn, 3)
    # One queued row per event, as a live camera's single events arrive.
    conn.execute(
        "INSERT INTO dispatch_batches (event_ids, ts) SELECT ARRAY[event_id], ARRAY[ts]"
        " FROM events ORDER BY ts"
    )
    wait_drained(conn)
    stats = [dispatchers.stop(p) for p in procs]
    assert sum(s["events"] for s in stats) == len(rows)
    assert sum(1 for s in stats if s["events"] > 0) >= 2, stats
    assert partition(conn) == single
    assert conn.execute("SELECT count(*), sum(recurrence) FROM cases").fetchone() == (60, 600)
