"""The API benchmark's parts: the case load it measures on, and its load generators."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import _cases, _load  # noqa: E402
from dispatch.lifecycle import OPEN_STATUSES, Status  # noqa: E402
from gridwatch.town import Town, load_town  # noqa: E402
from gridwatch.town.synth import SynthSpec, synth_town, write_config  # noqa: E402

SPEC = SynthSpec(seed=5, villages=2, grids=4, units=12, vacant_leaders=1)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Town:
    path = tmp_path_factory.mktemp("bench_town")
    write_config(synth_town(SPEC), path, SPEC)
    return load_town(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API serves

    def do_GET(self) -> None:
        ok = self.path.startswith("/ok") and self.headers.get("Authorization") == "Bearer t"
        body = b"[]" if ok else b"{}"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _check_counts(got: _load.LoadResult) -> None:
    assert got.requests > 20
    assert got.errors == 0
    # Every other path is missing: about half the answers are not 2xx.
    assert 0.3 * got.requests <= got.non_2xx <= 0.7 * got.requests
    assert 0 < got.p50_ms <= got.p99_ms <= got.max_ms
    assert got.requests_per_s > 0


def test_python_generator_sends_the_headers_and_counts_non_2xx(server: str) -> None:
    got = _load._run_python(server, ["/ok", "/missing"], {"Authorization": "Bearer t"}, 2, 1.0)
    assert got.generator == "python"
    _check_counts(got)


@pytest.mark.skipif(shutil.which("wrk") is None, reason=_load.WRK_HINT)
def test_wrk_sends_the_headers_and_counts_non_2xx(server: str) -> None:
    got = _load.drive(
        server, ["/ok", "/missing"], {"Authorization": "Bearer t"}, connections=2, seconds=1
    )
    assert got.generator.startswith("wrk")
    _check_counts(got)


def test_generated_rows_fit_the_columns_and_the_town(town: Town) -> None:
    rows = [line.split("\t") for block in _cases.chunks(town, 3000, 365, chunk=1000)
            for line in block.splitlines()]  # fmt: skip
    assert len(rows) == 3000
    col = {name: i for i, name in enumerate(_cases.COLUMNS)}
    assert {len(r) for r in rows} == {len(_cases.COLUMNS)}
    statuses = {r[col["status"]] for r in rows}
    assert statuses <= {s.value for s in Status}
    h = town.hierarchy
    for r in rows:
        loc = h.location_of_unit(r[col["unit_id"]])
        assert (r[col["grid_id"]], r[col["village_id"]]) == (loc.grid_id, loc.village_id)
        leader = h.area(r[col["unit_id"]]).leader or h.area(loc.grid_id).leader
        assert leader is not None and r[col["assignee"]] == leader.person_id
    # Oldest first, so identity ids follow the opening time.
    opened = [r[col["opened_at"]] for r in rows]
    assert opened == sorted(opened)


@pytest.mark.services
def test_load_stores_the_cases_and_keeps_the_indexes(town: Town, fresh_db: str) -> None:
    import psycopg

    from gateway.db.migrate import migrate

    migrate(fresh_db)
    index_sql = "SELECT indexdef FROM pg_indexes WHERE tablename = 'cases' ORDER BY indexname"
    with psycopg.connect(fresh_db) as conn:
        before = conn.execute(index_sql).fetchall()
        timings = _cases.load(conn, town, 5000, days=365)
        after = conn.execute(index_sql).fetchall()
        stats = conn.execute(
            "SELECT count(*), min(opened_at), max(opened_at),"
            " count(*) FILTER (WHERE status = ANY (%s) AND opened_at < now() - interval '30 days')"
            " FROM cases",
            ([s.value for s in OPEN_STATUSES],),
        ).fetchone()
        assert stats is not None
        count, first, last, open_old = stats
        by_id = conn.execute("SELECT opened_at FROM cases ORDER BY id").fetchall()
        analyzed = conn.execute(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'cases'"
        ).fetchone()
    assert count == 5000
    assert after == before and timings["indexes_rebuilt"] == len(before) - 1  # all but the pkey
    now = datetime.now(UTC)
    assert now - timedelta(days=366) < first < last <= now
    assert by_id == sorted(by_id)
    assert open_old == 0  # a year-old case is not still waiting
    assert analyzed == (True,)
