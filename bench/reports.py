"""The monthly town report on a million cases and their history.

    gridwatch bench reports --json [--cases 1000000] [--days 365]

On a synthesized town of 1,114 units (Zhongmen's size, as ``bench dispatch``):

1. creates a throwaway database (dropped at the end), migrates it and COPYs
   ``--cases`` cases over a year (``bench/_cases.py``);
2. writes each case's history from its columns, in time order, as the dispatcher
   and the case actions would have: created (with its deadlines), assigned,
   escalated, accepted, resolved, closed or its final status; then ANALYZE;
3. times the monthly report of the last complete month, town-wide
   (``dispatch.cadence.review.build``: every count, time, rate and person);
4. times, in the same run, a plain full-scan SQL query of the same counts (opened
   and closed by village, from the case columns): the baseline, and checks both agree.

The last line printed is one JSON object: ``seconds``, ``cases``, ``history_rows``,
``baseline`` (``seconds`` and the counts), ``counts_match`` and the load's timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _cases
from bench._boxref import box_ref
from bench._pg import admin_dsn, bench_database
from bench.dispatch import make_town

TARGETS = {"seconds": "< 10", "cases": ">= 1000000"}

#: Every case's history from its columns; ids in time order, as the live system writes them.
HISTORY = """
INSERT INTO case_history (case_id, at, actor, action, from_status, to_status, data)
SELECT case_id, at, actor, action, from_status, to_status, data FROM (
    SELECT id AS case_id, opened_at AS at, 'dispatcher' AS actor, 'created' AS action,
           NULL AS from_status, 'new' AS to_status, 0 AS step,
           jsonb_build_object('accept_by', accept_by, 'resolve_by', resolve_by) AS data
    FROM cases
    UNION ALL
    SELECT id, opened_at, 'dispatcher', 'assigned', 'new', 'assigned', 1,
           jsonb_build_object('assignee', assignee)
    FROM cases WHERE assignee IS NOT NULL
    UNION ALL
    SELECT id, accept_by, 'system', 'escalated', status, status, 2,
           jsonb_build_object('to_level', escalation_level, 'missed', 'accept')
    FROM cases WHERE escalation_level > 0 AND accept_by IS NOT NULL
    UNION ALL
    SELECT id, accepted_at, assignee, 'accept', 'assigned', 'accepted', 3, '{}'::jsonb
    FROM cases WHERE accepted_at IS NOT NULL
    UNION ALL
    SELECT id, resolved_at, assignee, 'resolve', 'accepted', 'resolved', 4, '{}'::jsonb
    FROM cases WHERE resolved_at IS NOT NULL
    UNION ALL
    SELECT id, closed_at, 'P-duty-commander',
           CASE WHEN satisfied THEN 'rate_satisfied' ELSE 'close' END,
           'verified', 'closed', 5,
           CASE WHEN rating IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('rating', rating, 'satisfied', satisfied) END
    FROM cases WHERE status = 'closed' AND closed_at IS NOT NULL
    UNION ALL
    SELECT id, updated_at, 'system', status, NULL, status, 6, '{}'::jsonb
    FROM cases WHERE status NOT IN ('new', 'assigned', 'accepted', 'resolved', 'closed')
) h
ORDER BY at, case_id, step
"""

BASELINE = """
SELECT coalesce(village_id, ''),
       count(*) FILTER (WHERE opened_at >= %(start)s AND opened_at < %(end)s),
       count(*) FILTER (WHERE closed_at >= %(start)s AND closed_at < %(end)s
                          AND status = 'closed')
FROM cases GROUP BY 1 ORDER BY 1
"""


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from dispatch.cadence.config import CadenceConfig
    from dispatch.cadence.review import ReviewSetup, build
    from dispatch.config import load_config
    from gateway.db.migrate import migrate
    from gridwatch.settings import get_settings

    started = time.perf_counter()
    result: dict[str, Any] = {"box_ref": box_ref()}
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        town = make_town(Path(tmp))
        dsn = stack.enter_context(bench_database(admin_dsn(), "reports"))
        migrate(dsn)
        with psycopg.connect(dsn) as conn:
            result["load"] = _cases.load(conn, town, args.cases, args.days)
            t = time.perf_counter()
            conn.execute("SET work_mem = '256MB'")
            rows = conn.execute(HISTORY).rowcount
            conn.commit()
            conn.execute("ANALYZE case_history")
            conn.commit()
            result["history_s"] = round(time.perf_counter() - t, 1)
            result["history_rows"] = rows
        tz = get_settings().zone
        setup = ReviewSetup(tz, CadenceConfig(), load_config(Path(tmp)).deadlines)
        now = datetime.now(UTC)
        last_month = (now.astimezone(tz).replace(day=1) - timedelta(days=1)).date()
        period = setup.period("monthly", last_month)
        with psycopg.connect(dsn, autocommit=True) as conn:
            cases = conn.execute("SELECT count(*) FROM cases").fetchone()
            result["cases"] = int(cases[0]) if cases else 0
            t = time.perf_counter()
            report = build(conn, setup, "monthly", last_month, now)
            result["seconds"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            base = conn.execute(BASELINE, {"start": period.start, "end": period.end}).fetchall()
            baseline_s = round(time.perf_counter() - t, 2)
        opened = {r["id"]: r["opened"] for r in report["counts"]["village"] if r["opened"]}
        closed = {r["id"]: r["closed"] for r in report["counts"]["village"] if r["closed"]}
        result["month"] = period.first_day.isoformat()
        result["counts"] = {"opened": sum(opened.values()), "closed": sum(closed.values())}
        result["baseline"] = {
            "seconds": baseline_s,
            "opened": sum(int(r[1]) for r in base),
            "closed": sum(int(r[2]) for r in base),
        }
        result["counts_match"] = opened == {str(v): int(o) for v, o, _ in base if o} and (
            closed == {str(v): int(c) for v, _, c in base if c}
        )
        result["rates"] = {
            k: report["rates"]["all"][k]
            for k in ("cases", "response", "completion", "resolution", "satisfaction")
        }
    result["targets"] = TARGETS
    result["meets_targets"] = (
        result["seconds"] < 10 and result["cases"] >= 1_000_000 and result["counts_match"]
    )
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for flag, kw in (
        ("--json", {"action": "store_true", "help": "print only the JSON result line"}),
        ("--cases", {"type": int, "default": 1_000_000}),
        ("--days", {"type": float, "default": 365.0, "help": "opened over this many days"}),
    ):
        parser.add_argument(flag, **kw)
    args = parser.parse_args(argv)
    result = run(args)
    lines = [] if args.json else [f"{key}: {value}" for key, value in result.items()]
    print("\n".join([*lines, json.dumps(result, ensure_ascii=False)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
