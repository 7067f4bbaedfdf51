"""A running dispatcher opens a case as soon as ingest commits, without waiting for its poll."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from dispatch.store import Context
from dispatch.worker import run
from tests.dispatch.conftest import TownFixture, insert_event


def _listening(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'gridwatch-dispatch-listen' AND query LIKE 'LISTEN%'"
    ).fetchone()
    return bool(row and row[0])


def _cases(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM cases").fetchone()
    return int(row[0]) if row else 0


def test_the_ingest_commit_wakes_an_idle_dispatcher_long_before_its_poll(
    db: str, conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture
) -> None:
    stop = threading.Event()
    # The fallback poll is 30 s: a case within 5 s came from the wake-up.
    worker = threading.Thread(target=run, args=(db, ctx), kwargs={"stop": stop, "idle_s": 30.0})
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not _listening(conn) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the dispatcher listens, its queue empty
        time.sleep(0.5)
        for k in range(3):
            lon, lat = zhongmen.point_in(zhongmen.unit(k))
            insert_event(conn, ts=ctx.clock.now(), lon=lon, lat=lat, seq=k + 1)
            t0 = time.monotonic()
            while _cases(conn) < k + 1 and time.monotonic() - t0 < 5:
                time.sleep(0.02)
            assert _cases(conn) == k + 1, f"event {k} waited past 5 s for its case"
    finally:
        stop.set()
        worker.join(40)
    assert not worker.is_alive()
