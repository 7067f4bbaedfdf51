"""`gridwatch deliver`: send the notifications outbox to people's channels; `--once` drains."""

from __future__ import annotations

import argparse
import json

from gridwatch.commands import Subparsers
from gridwatch.commands.options import add_service_options, serve_metrics, stop_on_signals
from gridwatch.logs import setup_logging

DESCRIPTION = (
    "Send queued notices on every channel of their person (channels.yaml), with back-off; "
    "a notice nobody got escalates its case. Workers share the outbox through row locks."
)


def register(sub: Subparsers) -> None:
    p = sub.add_parser("deliver", help="deliver notices with retries", description=DESCRIPTION)
    add_service_options(p)
    p.add_argument("--worker", default=None, help="this worker's name in the delivery log")
    p.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    p.add_argument("--batch", type=int, default=50, help="notices claimed per transaction")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:

    import psycopg

    from dispatch.delivery.metrics import delivery_registry
    from dispatch.delivery.worker import drain, make_deliverer, run
    from dispatch.errors import ConfigError
    from gridwatch.settings import get_settings
    from gridwatch.town import TownError

    setup_logging()
    try:
        deliverer = make_deliverer(args.config_dir, worker=args.worker)
    except (TownError, ConfigError) as exc:
        print(f"投递配置无效 / delivery config invalid: {exc}")
        return 2
    deliverer.batch = max(1, args.batch)
    settings = get_settings()
    dsn = args.database_url or settings.database_url
    server = None
    try:
        if not args.once:
            server = serve_metrics(args, settings, delivery_registry(deliverer.stats))
            print(json.dumps(run(dsn, deliverer, stop=stop_on_signals())))
            return 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            drain(conn, deliverer)
        print(json.dumps(deliverer.stats))
        return 0
    except psycopg.OperationalError as exc:
        print(f"数据库不可用 / database unavailable: {exc}")
        return 1
    except OSError as exc:
        print(f"指标端口不可用 / metrics port unavailable: {exc}")
        return 1
    finally:
        if server is not None:
            server.close()
        stop = getattr(deliverer.mqtt, "stop", None)
        if stop is not None:
            stop()
