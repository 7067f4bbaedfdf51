"""The backup drill of docs/deployment.md: pg_dump a live database, pg_restore it into a
fresh one, and find the same events and cases there.

The database is filled through the real code: contract v1 messages of the town's cameras
go through the gateway's classify and COPY writer, and the dispatcher (as `gridwatch
dispatch` builds it) turns them into cases. Plain PostgreSQL with native partitioning: no
TimescaleDB here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from gateway.contract import topic
from gateway.db.migrate import migrate
from gateway.ingest.classify import Received, classify
from gateway.ingest.registry import registry_from_town
from gateway.ingest.writer import write
from gridwatch.town import Town, load_town

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
        reason="needs PostgreSQL's pg_dump and pg_restore",
    ),
]

CONFIG = Path(__file__).resolve().parents[1] / "config"
PREFIX = "gw"
#: Tables whose rows a restore must bring back, with the column that orders them.
TABLES = {
    "events": "event_id",
    "cases": "id",
    "case_history": "id",
    "notifications": "id",
    "device_status": "device_id",
    "schema_migrations": "version",
}


@pytest.fixture(scope="module")
def town() -> Town:
    return load_town(CONFIG)


def camera_messages(town: Town, cameras: int, per_camera: int) -> list[Received]:
    """Events of the town's cameras, each camera with its own category, and a status."""
    now = datetime.now(UTC)
    ids = sorted(d.id for d in town.devices.values() if d.kind == "camera")[:cameras]
    categories = ("intrusion", "crowding", "illegal_parking")
    out = []
    for i, device in enumerate(ids):
        for seq in range(1, per_camera + 1):
            body = {
                "v": "1.0",
                "kind": "event",
                "event_id": str(uuid.uuid4()),
                "device_id": device,
                "seq": seq,
                "ts": (now - timedelta(seconds=per_camera - seq)).isoformat(),
                "rule": "drill",
                "category": categories[i % len(categories)],
                "score": 0.8,
            }
            out.append(Received(topic(PREFIX, device, "event"), json.dumps(body).encode(), now))
        status = {
            "v": "1.0",
            "kind": "status",
            "device_id": device,
            "seq": per_camera + 1,
            "ts": now.isoformat(),
            "state": "online",
        }
        out.append(Received(topic(PREFIX, device, "status"), json.dumps(status).encode(), now))
    return out


def counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        out = {}
        for table in TABLES:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            out[table] = int(row[0]) if row else -1
        return out


def digest(dsn: str) -> dict[str, str]:
    """An md5 of every row of each table, in order: equal digests, equal contents."""
    with psycopg.connect(dsn) as conn:
        out = {}
        for table, key in TABLES.items():
            row = conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY {key}), '')) FROM {table} t"
            ).fetchone()
            out[table] = str(row[0]) if row else ""
        return out


@pytest.fixture
def restored_db(pg_admin_url: str) -> Iterator[str]:
    from gridwatch.services import scratch_database

    name = f"gwtest_restore_{uuid.uuid4().hex[:8]}"
    with scratch_database(pg_admin_url, name) as dsn:
        yield dsn


def test_a_dump_restored_into_a_fresh_database_has_the_same_events_and_cases(
    fresh_db: str, restored_db: str, town: Town, tmp_path: Path
) -> None:
    from dispatch.worker import drain, make_context

    migrate(fresh_db)
    messages = camera_messages(town, cameras=12, per_camera=25)
    rows = classify(messages, prefix=PREFIX, registry=registry_from_town(town))
    assert not rows.dead_letters, rows.dead_letters
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        write(conn, rows)
        stats = drain(conn, make_context(CONFIG))
    before = counts(fresh_db)
    assert before["events"] == 12 * 25
    assert stats.events == 12 * 25
    # Events of one camera merge into its case: one case per camera.
    assert before["cases"] == 12
    assert before["case_history"] > before["cases"]

    dump = tmp_path / "gridwatch.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", fresh_db],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["pg_restore", "--exit-on-error", f"--dbname={restored_db}", str(dump)],
        check=True,
        capture_output=True,
    )

    after = counts(restored_db)
    print(f"backup drill: before {before}, after {after}, dump {dump.stat().st_size} bytes")
    assert after == before
    assert digest(restored_db) == digest(fresh_db)
    # The restored database is a working one: its schema is current, and the dispatcher
    # finds nothing left to do in it.
    assert migrate(restored_db) == []
    with psycopg.connect(restored_db, autocommit=True) as conn:
        assert drain(conn, make_context(CONFIG)).events == 0
