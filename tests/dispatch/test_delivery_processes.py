"""Two `gridwatch deliver` processes over 1,000 notices, one killed with SIGKILL mid-run:
the receiver shows each notice once, and the delivery log accounts for every attempt."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from dispatch.clock import SystemClock
from dispatch.notify import Notice, OutboxNotifier
from tests.dispatch.conftest import TownFixture
from tests.dispatch.receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.faults]

SECRET = "process-test-secret"
NOTICES = 1_000


def worker(config_dir: Path, db: str, name: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "GRIDWATCH_WEBHOOK_SECRETS": json.dumps({"platform": SECRET}),
    }
    where = ["--config-dir", str(config_dir), "--database-url", db]
    return subprocess.Popen(
        [sys.executable, "-m", "gridwatch.cli", "deliver", "--worker", name, *where],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def wait_for(what: str, ok: Any, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.05)


def test_two_workers_one_killed_deliver_each_notice_once_and_log_every_attempt(
    db: str, conn: psycopg.Connection[Any], zhongmen: TownFixture, tmp_path: Path
) -> None:
    receiver = Receiver(SECRET.encode(), delay_s=0.005).start()
    config = tmp_path / "config"
    shutil.copytree(zhongmen.config_dir, config)
    (config / "channels.yaml").write_text(
        yaml.safe_dump(
            {
                "retry": {"first_delay_s": 0.05, "max_delay_s": 0.5, "lease_s": 3.0},
                "mqtt": {"enabled": False},
                "webhooks": {"platform": {"url": receiver.url, "timeout_s": 5}},
                "default_webhooks": ["platform"],
            }
        )
    )
    people = list(zhongmen.town.people)[:20]
    now = SystemClock().now()
    OutboxNotifier().send_many(
        conn,
        [
            Notice(people[i % 20], None, "assigned", None, f"p:{uuid.uuid4()}", "新案件", "New")
            for i in range(NOTICES)
        ],
        now,
    )
    procs = [worker(config, db, "doomed"), worker(config, db, "survivor")]
    try:
        wait_for("150 deliveries", lambda: receiver.raw >= 150, 120)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        left = conn.execute("SELECT count(*) FROM notifications WHERE status = 'pending'")
        assert (left.fetchone() or (0,))[0] > 0, "the kill came after the work was done"

        def all_settled() -> bool:
            row = conn.execute("SELECT count(*) FROM notifications WHERE status = 'pending'")
            return (row.fetchone() or (1,))[0] == 0

        wait_for("every notice settled", all_settled, 120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(20)
            if p.stdout is not None:
                p.stdout.close()
        receiver.stop()

    ids = [int(r[0]) for r in conn.execute("SELECT id FROM notifications ORDER BY id")]
    shown = sorted(n["id"] for n in receiver.notices)
    assert shown == ids, "each notice shown exactly once"
    assert receiver.refused == []
    statuses = conn.execute("SELECT status, count(*) FROM notifications GROUP BY 1").fetchall()
    assert statuses == [("delivered", NOTICES)]

    outcomes = dict(
        conn.execute("SELECT outcome, count(*) FROM notification_attempts GROUP BY 1").fetchall()
    )
    assert outcomes.get("sending", 0) == 0
    answered = outcomes.get("acknowledged", 0) + outcomes.get("retry", 0)
    assert outcomes["acknowledged"] == NOTICES
    # Every POST the receiver got is a logged attempt: one with its answer, or one the
    # killed worker sent but never recorded (abandoned when the survivor took it over).
    assert answered <= receiver.raw <= answered + outcomes.get("abandoned", 0)
    assert receiver.raw - receiver.duplicates == NOTICES
    abandoned = conn.execute(
        "SELECT DISTINCT worker FROM notification_attempts WHERE outcome = 'abandoned'"
    ).fetchall()
    assert abandoned == [("doomed",)]
    once = conn.execute(
        "SELECT count(*) FROM (SELECT notification_id FROM notification_attempts"
        " WHERE acknowledged GROUP BY 1 HAVING count(*) = 1) AS s"
    ).fetchone()
    assert once == (NOTICES,)
