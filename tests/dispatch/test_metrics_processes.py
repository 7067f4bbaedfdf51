"""`gridwatch dispatch` and `gridwatch deliver` as real processes with ``--metrics-port 0``
and JSON logs: their /metrics agree with the cases and notices stored, and every log line
is one JSON object, carrying the event id when the line is about an event."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.dispatch.conftest import TownFixture
from tests.dispatch.receiver import Receiver
from tests.dispatch.test_processes import build_stream, load
from tests.metrics_support import Scrape, Service, scrape

pytestmark = [pytest.mark.services, pytest.mark.slow]

SECRET = "metrics-test-secret"


def wait_for(what: str, ok: Any, timeout_s: float = 120) -> Any:
    end = time.monotonic() + timeout_s
    while not (value := ok()):
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.1)
    return value


def count(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query.encode()).fetchone()
    return int(row[0]) if row else 0


def test_dispatcher_and_delivery_metrics_equal_the_cases_and_notices_stored(
    db: str, conn: psycopg.Connection[Any], zhongmen: TownFixture, tmp_path: Path
) -> None:
    receiver = Receiver(SECRET.encode()).start()
    config = tmp_path / "config"
    shutil.copytree(zhongmen.config_dir, config)
    (config / "channels.yaml").write_text(
        yaml.safe_dump(
            {
                "mqtt": {"enabled": False},
                "webhooks": {"platform": {"url": receiver.url, "timeout_s": 5}},
                "default_webhooks": ["platform"],
            }
        )
    )
    rows = build_stream(zhongmen, groups=6, per_group=3)
    load(conn, rows)
    # A queued key whose event is gone (retention ran first): logged with its id, dropped.
    gone = uuid.uuid4()
    conn.execute(
        "INSERT INTO dispatch_batches (event_ids, ts) VALUES (%s, %s)",
        ([gone], [datetime.now(UTC)]),
    )
    where = ["--config-dir", str(config), "--database-url", db]
    env = {"GRIDWATCH_WEBHOOK_SECRETS": json.dumps({"platform": SECRET})}
    services = [
        Service(["dispatch", *where, "--metrics-port", "0"], env),
        Service(["deliver", "--worker", "w1", *where, "--metrics-port", "0"], env),
    ]
    dispatcher, deliverer = services
    try:
        d_url = dispatcher.metrics_url()
        wait_for("queue drained", lambda: count(conn, "SELECT count(*) FROM dispatch_queue") == 0)

        def dispatched() -> Scrape | None:
            m = scrape(d_url)
            return m if m.value("gridwatch_dispatch_events_total") == len(rows) + 1 else None

        m = wait_for("every event counted", dispatched)
        cases = dict(conn.execute("SELECT category, count(*) FROM cases GROUP BY 1").fetchall())
        assert cases == {"intrusion": 6}
        assert m.by_label("gridwatch_dispatch_cases_opened_total", "category") == cases
        assert m.value("gridwatch_dispatch_lag_seconds_count") == len(rows) + 1
        assert m.value("gridwatch_dispatch_lag_seconds_sum") > 0

        v_url = deliverer.metrics_url()
        notices = wait_for(
            "notices of the assigned cases",
            lambda: count(conn, "SELECT count(*) FROM notifications"),
        )
        wait_for(
            "every notice settled",
            lambda: count(conn, "SELECT count(*) FROM notifications WHERE status = 'pending'") == 0,
        )
        delivered = count(conn, "SELECT count(*) FROM notifications WHERE status = 'delivered'")
        attempts = count(conn, "SELECT count(*) FROM notification_attempts")
        assert delivered == notices == len(receiver.notices)

        def settled() -> Scrape | None:
            m = scrape(v_url)
            return m if m.value("gridwatch_delivery_notices_total", outcome="delivered") else None

        v = wait_for("delivery counted", settled)
        assert v.value("gridwatch_delivery_notices_total", outcome="delivered") == delivered
        assert v.value("gridwatch_delivery_notices_total", outcome="failed") == 0
        assert v.value("gridwatch_delivery_attempts_total") == attempts
    finally:
        for s in services:
            s.stop()
        receiver.stop()
    assert dispatcher.proc.returncode == 0 and deliverer.proc.returncode == 0
    for service in services:
        records = service.records()  # every line parses: one JSON object each
        assert records
        for rec in records:
            assert {"ts", "level", "logger", "message"} <= rec.keys(), rec
    dropped = [r for r in dispatcher.records() if "has no stored event" in r["message"]]
    assert [r["event_id"] for r in dropped] == [str(gone)]
    assert dropped[0]["level"] == "WARNING" and dropped[0]["logger"] == "dispatch.batch"
