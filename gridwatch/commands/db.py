"""`gridwatch db`: apply migrations and look at the schema's state."""

from __future__ import annotations

import argparse
import json

from gridwatch.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser("db", help="database migrations and maintenance")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    m = dbsub.add_parser("migrate", help="apply pending migrations (idempotent, advisory-locked)")
    m.add_argument("--dsn", help="owner DSN (default: settings)")
    m.set_defaults(handler=_migrate)

    s = dbsub.add_parser("status", help="print applied migrations as JSON")
    s.add_argument("--dsn", help="DSN (default: GRIDWATCH_DATABASE_URL)")
    s.set_defaults(handler=_status)

    pt = dbsub.add_parser("partitions", help="create daily partitions ahead (without TimescaleDB)")
    pt.add_argument("--days-ahead", type=int, default=10)
    pt.add_argument("--dsn", help="DSN (default: GRIDWATCH_DATABASE_URL)")
    pt.set_defaults(handler=_partitions)


def _migrate(args: argparse.Namespace) -> int:
    from gateway.db import MigrationError
    from gateway.db.migrate import migrate
    from gridwatch.settings import get_settings

    settings = get_settings()
    dsn = args.dsn or settings.migrate_database_url or settings.database_url
    try:
        applied = migrate(dsn, service_role=settings.service_role)
    except MigrationError as exc:
        print(f"迁移失败 / migration failed: {exc}")
        return 1
    print(json.dumps({"applied": applied}, ensure_ascii=False))
    return 0


def _status(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.db.capability import has_timescaledb
    from gateway.db.migrate import applied_versions, discover, pending
    from gridwatch.settings import get_settings

    dsn = args.dsn or get_settings().database_url
    with psycopg.connect(dsn) as conn:
        applied = applied_versions(conn)
        todo = pending(discover(), [v for v, _, _ in applied])
        out = {
            "applied": [f"{v:04d}_{n} ({k})" for v, n, k in applied],
            "pending": [f"{m.version:04d}_{m.name}" for m in todo],
            "timescaledb_available": has_timescaledb(conn),
        }
    print(json.dumps(out, ensure_ascii=False))
    return 0


def _partitions(args: argparse.Namespace) -> int:
    import psycopg

    from gridwatch.settings import get_settings

    dsn = args.dsn or get_settings().database_url
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT gridwatch_ensure_partitions(%s)", (args.days_ahead,)).fetchone()
    print(json.dumps({"created": row[0] if row else 0}))
    return 0
