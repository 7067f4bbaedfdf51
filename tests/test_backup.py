"""The backup drill of docs/deployment.md: pg_dump a live database, pg_restore it into a
fresh one, and find the same events and cases there.

The database is filled through the real code (tests/drill_support.py): the gateway's
classify and COPY writer, then the dispatcher. Plain PostgreSQL with native partitioning:
no TimescaleDB here.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dispatch.worker import drain, make_context
from gateway.db.migrate import migrate
from gridwatch.town import Town, load_town
from tests.drill_support import CONFIG, counts, digest, fill

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def town() -> Town:
    return load_town(CONFIG)


@pytest.fixture
def restored_db(pg_admin_url: str) -> Iterator[str]:
    from gridwatch.services import scratch_database

    name = f"gwtest_restore_{uuid.uuid4().hex[:8]}"
    with scratch_database(pg_admin_url, name) as dsn:
        yield dsn


def test_a_dump_restored_into_a_fresh_database_has_the_same_events_and_cases(
    fresh_db: str, restored_db: str, town: Town, tmp_path: Path
) -> None:
    migrate(fresh_db)
    stats = fill(fresh_db, town, cameras=12, per_camera=25)
    before = counts(fresh_db)
    assert before["events"] == stats.events == 12 * 25
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
