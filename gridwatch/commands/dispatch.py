"""`gridwatch dispatch`: turn queued events into cases; `--once` drains and exits."""

from __future__ import annotations

import argparse
import json

from gridwatch.commands import Subparsers
from gridwatch.commands.options import add_service_options, serve_metrics, stop_on_signals
from gridwatch.logs import setup_logging


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "dispatch",
        help="run the dispatcher (events -> cases, deadlines, escalation)",
        description="Turn committed events into cases for the responsible unit leader. "
        "Several dispatchers may run at once; they coordinate through database locks.",
    )
    p.add_argument("--once", action="store_true", help="drain the queue, run timers, exit")
    p.add_argument("--batch", type=int, default=100, help="events per transaction")
    add_service_options(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    import psycopg

    from dispatch.errors import ConfigError
    from dispatch.metrics import DispatchMetrics
    from dispatch.worker import drain, make_context, run
    from gridwatch.settings import get_settings
    from gridwatch.town import TownError

    setup_logging()
    settings = get_settings()
    config_dir = Path(args.config_dir) if args.config_dir else settings.config_dir
    dsn = args.database_url or settings.database_url
    try:
        ctx = make_context(config_dir)
    except (TownError, ConfigError) as exc:
        print(f"派单配置无效 / dispatch config invalid ({config_dir}): {exc}")
        return 2
    if args.once:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                stats = drain(conn, ctx, args.batch)
        except psycopg.OperationalError as exc:
            print(f"数据库不可用 / database unavailable: {exc}")
            return 1
        print(json.dumps(stats.__dict__))
        return 0
    metrics = DispatchMetrics()
    ctx = dataclasses.replace(ctx, observer=metrics)
    try:
        server = serve_metrics(args, settings, metrics.registry)
    except OSError as exc:
        print(f"指标端口不可用 / metrics port unavailable: {exc}")
        return 1
    try:
        stats = run(dsn, ctx, stop=stop_on_signals(), batch=args.batch)
    finally:
        if server is not None:
            server.close()
    print(json.dumps(stats.__dict__))
    return 0
