"""`gridwatch snapshots retain`: delete evidence past its category's retention."""

from __future__ import annotations

import argparse
import json

from gridwatch.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser("snapshots", help="evidence snapshots the gateway holds")
    ssub = p.add_subparsers(dest="snapshots_command", required=True, metavar="ACTION")
    r = ssub.add_parser(
        "retain", help="delete snapshots past retention, except those of open or disputed cases"
    )
    r.add_argument("--dsn", help="DSN (default: GRIDWATCH_DATABASE_URL)")
    r.add_argument("--limit", type=int, default=10_000, help="at most this many per run")
    r.set_defaults(handler=_retain)


def _retain(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import psycopg

    from gateway.evidence.retention import run_retention
    from gateway.evidence.stores import open_store
    from gridwatch.settings import get_settings

    settings = get_settings()
    with psycopg.connect(args.dsn or settings.database_url, autocommit=True) as conn:
        result = run_retention(conn, open_store(settings), datetime.now(UTC), limit=args.limit)
    print(json.dumps({"deleted": len(result.deleted), "held": len(result.held)}))
    return 0
