"""The case API under load: a grid leader's case list on a million stored cases.

    gridwatch bench api --json [--cases 1000000] [--seconds 20] [--connections 16]
                               [--processes N]

On a synthesized town of 1,114 units (Zhongmen's size, as ``bench dispatch``):

1. creates a throwaway database (dropped at the end), migrates it and COPYs
   ``--cases`` cases spread over a year into it (``bench/_cases.py``), then ANALYZE;
2. starts the real gateway API as its own process (``gridwatch gateway --no-ingest``);
3. drives a grid leader's case list with wrk (``bench/_load.py``; a Python load
   generator if wrk is missing) at ``--connections`` connections for ``--seconds``
   seconds: the first page, half the requests, and cursor pages 2 to 5 and 20;
4. measures, in the same run, the same pages with the grid as an explicit filter
   and no authentication or scope: the baseline.

Both lists are checked to return the same cases before the clock starts. The last
line printed is one JSON object: ``requests_per_s``, ``p50_ms``, ``p99_ms``,
``cases``, ``baseline`` (the same figures), ``box_ref`` (``bench/_boxref.py``),
``errors`` and ``non_2xx`` (both must be 0), and the load's timings.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _cases, _load
from bench._boxref import box_ref
from bench._pg import admin_dsn, bench_database
from bench._procs import start_process, token
from bench._report import emit
from bench.dispatch import ZHONGMEN, make_town

TARGETS = {"requests_per_s": ">= 500", "p99_ms": "< 100", "cases": ">= 1000000"}
LIST_PATH = "/api/v1/cases"
CURSOR_PARAM = "cursor"
PAGE = 50
#: Which pages each round of requests asks for: half first pages, then deeper ones.
PAGE_MIX = (1, 2, 1, 3, 1, 4, 1, 5, 1, 20)


def _get(url: str, headers: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read()), resp.headers.get("X-Next-Cursor")


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; a 503 health still serves the API
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the API at {url} did not answer within {timeout:.0f} s")


def _pages(base: str, query: str, headers: dict[str, str]) -> list[tuple[str, list[int]]]:
    """The path of each page in ``PAGE_MIX`` with the case ids it returns.

    Pages on with the ``X-Next-Cursor`` the API sends. A small ``--cases`` may give a
    grid fewer pages than the mix asks for; the deepest full page stands in.
    """
    out: dict[int, tuple[str, list[int]]] = {}
    cursor: str | None = None
    for page in range(1, max(PAGE_MIX) + 1):
        path = f"{LIST_PATH}?{query}limit={PAGE}" + (f"&{CURSOR_PARAM}={cursor}" if cursor else "")
        rows, cursor = _get(base + path, headers)
        if len(rows) != PAGE:
            break
        out[page] = (path, [r["id"] for r in rows])
        if cursor is None:
            break
    if not out:
        raise RuntimeError(f"{base}{LIST_PATH}?{query} has fewer than {PAGE} cases")
    return [out[min(p, max(out))] for p in PAGE_MIX]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from gateway.db.migrate import migrate
    from gridwatch.services import free_port

    started = time.perf_counter()
    result: dict[str, Any] = {"box_ref": box_ref(), "cpus": os.cpu_count()}
    result["load_avg_1m_at_start"] = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="gwbench-town-") as tmp, ExitStack() as stack:
        t0 = time.perf_counter()
        town = make_town(Path(tmp))
        result["town"] = {**ZHONGMEN, "synth_s": round(time.perf_counter() - t0, 1)}
        dsn = stack.enter_context(bench_database(admin_dsn(), "api"))
        migrate(dsn)
        with psycopg.connect(dsn) as conn:
            result["load"] = _cases.load(conn, town, args.cases, args.days)
            stored = conn.execute("SELECT count(*) FROM cases").fetchone()
            # The grid with the median number of cases: neither the busiest nor a quiet one.
            grid_counts = conn.execute(
                "SELECT grid_id, count(*) FROM cases GROUP BY grid_id ORDER BY 2, 1"
            ).fetchall()
        result["cases"] = int(stored[0]) if stored else 0
        grid, grid_cases = grid_counts[len(grid_counts) // 2]
        leader = town.hierarchy.area(grid).leader
        result["grid"] = {"id": grid, "cases": grid_cases, "leader": leader.person_id}

        env = {
            **os.environ,
            "GRIDWATCH_DATABASE_URL": dsn,
            "GRIDWATCH_CONFIG_DIR": tmp,
            "GRIDWATCH_JWT_SECRET": secrets.token_urlsafe(48),
        }
        auth_port, base_port = free_port(), free_port()
        py = [sys.executable]
        # --processes of each on one port (SO_REUSEPORT), as a box runs one per core.
        shared = {"GRIDWATCH_HTTP_REUSE_PORT": "1"} if args.processes > 1 else {}
        auth_base = f"http://127.0.0.1:{auth_port}"
        plain_base = f"http://127.0.0.1:{base_port}"
        for _ in range(args.processes):
            gateway = start_process(
                [*py, "-m", "gridwatch.cli", "gateway", "--no-ingest"],
                {**env, **shared, "GRIDWATCH_HTTP_PORT": str(auth_port)},
                stack,
            )
            plain = start_process(
                [*py, str(Path(__file__).resolve().parent / "_api_server.py")],
                {**env, **shared, "GRIDWATCH_HTTP_PORT": str(base_port)},
                stack,
            )
            _wait_up(auth_base, gateway)
            _wait_up(plain_base, plain)
        # The leader's own list, unfiltered: row-level security alone picks the grid.
        auth_headers = {"Authorization": f"Bearer {token(env, leader.person_id)}"}
        auth = _pages(auth_base, "", auth_headers)
        baseline = _pages(plain_base, f"grid={grid}&", {})
        if [ids for _, ids in auth] != [ids for _, ids in baseline]:
            raise RuntimeError("the authenticated list and the baseline return different cases")

        def measure(base: str, pages: list[tuple[str, list[int]]], headers: dict[str, str]) -> Any:
            paths = [p for p, _ in pages]
            # Warm the server's caches and PostgreSQL's plan for this list first.
            _load.drive(base, paths, headers, connections=args.connections, seconds=2)
            return _load.drive(
                base, paths, headers, connections=args.connections, seconds=args.seconds
            )

        got = measure(auth_base, auth, auth_headers)
        base_got = measure(plain_base, baseline, {})
    result.update(got.figures())
    result["baseline"] = base_got.figures()
    result.update(
        {
            "connections": args.connections,
            "processes": args.processes,
            "seconds": args.seconds,
            "page": PAGE,
            "page_mix": list(PAGE_MIX),
            "generator": got.generator,
            "targets": TARGETS,
            "meets_targets": got.requests_per_s >= 500
            and got.p99_ms < 100
            and result["cases"] >= 1_000_000
            and got.errors == got.non_2xx == 0,
            "wall_s": round(time.perf_counter() - started, 1),
        }
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print only the JSON result line")
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--days", type=float, default=365.0, help="opened over this many days")
    ap.add_argument("--seconds", type=float, default=20.0, help="load per measured list")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument(
        "--processes",
        type=int,
        default=None,
        help="API processes sharing the port, for the measured list and the baseline alike; "
        "default one per core (at most 4), as a box runs them",
    )
    args = ap.parse_args(argv)
    if args.processes is None:
        args.processes = min(os.cpu_count() or 1, 4)
    if args.processes < 1:
        ap.error(f"--processes {args.processes}: expected 1 or more")
    emit(run(args), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
