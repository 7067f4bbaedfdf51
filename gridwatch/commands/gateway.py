"""`gridwatch gateway`: ingest MQTT messages into PostgreSQL and serve the API and console."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from gridwatch.commands import Subparsers
from gridwatch.logs import setup_logging

if TYPE_CHECKING:
    from gridwatch.settings import Settings
    from gridwatch.town import Town


def register(sub: Subparsers) -> None:
    p = sub.add_parser("gateway", help="ingest MQTT into PostgreSQL; serve the API and the console")
    p.add_argument(
        "--no-api",
        action="store_true",
        help="ingest only, no HTTP server (metrics on GRIDWATCH_METRICS_PORT if set)",
    )
    p.add_argument("--no-ingest", action="store_true", help="HTTP API and console only")
    p.add_argument("--migrate", action="store_true", help="apply migrations first")
    p.add_argument("--config-dir", type=Path, help="town config (default: GRIDWATCH_CONFIG_DIR)")
    p.add_argument("--max-skew", type=float, default=300.0, help="seconds before clock_skewed")
    p.add_argument(
        "--client-id",
        help="stable MQTT client id (default: gridwatch-gw-<host>-<share group>); "
        "each process sharing a broker needs its own",
    )
    p.add_argument(
        "--session-expiry",
        type=int,
        default=3600,
        help="seconds the broker keeps this gateway's session and unacknowledged messages "
        "while it is away (0: a clean session per connection, random client id)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from dispatch.errors import ConfigError
    from gateway.db import MigrationError
    from gateway.db.migrate import migrate
    from gateway.process import Gateway, GatewayError, consumer_config
    from gridwatch.settings import get_settings
    from gridwatch.town import TownError, load_town

    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    settings = get_settings()
    if not args.no_api and settings.default_secret:
        print(
            "拒绝启动: GRIDWATCH_JWT_SECRET 仍是默认值 / refusing to start: GRIDWATCH_JWT_SECRET"
            " is the default; set a random one (e.g. python -c 'import secrets;"
            " print(secrets.token_urlsafe(48))')"
        )
        return 2
    config_dir = args.config_dir or settings.config_dir
    try:
        town = load_town(config_dir)
    except TownError as exc:
        print(f"城镇配置无效 / town config invalid ({config_dir}): {exc}")
        return 2
    try:
        _calendar_or_refuse(config_dir, settings, town)
    except ConfigError as exc:
        print(f"派单配置无效 / dispatch config invalid ({config_dir}): {exc}")
        return 2
    if args.migrate:
        try:
            migrate(
                settings.migrate_database_url or settings.database_url,
                service_role=settings.service_role,
            )
        except MigrationError as exc:
            print(f"迁移失败 / migration failed: {exc}")
            return 1
    overrides: dict[str, object] = {
        "max_skew_s": args.max_skew,
        "session_expiry_s": args.session_expiry,
    }
    if args.client_id:
        overrides["client_id"] = args.client_id
    elif args.session_expiry:
        # Stable across restarts, so the broker hands the session back.
        overrides["client_id"] = f"gridwatch-gw-{socket.gethostname()}-{settings.share_group}"[:128]
    gateway = Gateway(
        settings,
        town=town,
        api=not args.no_api,
        ingest=not args.no_ingest,
        consumer=consumer_config(settings, **overrides),
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        gateway.start()
    except GatewayError as exc:
        print(f"网关启动失败 / gateway failed to start: {exc}")
        return 1
    if not args.no_api:
        print(f"控制台 / console: {gateway.url}/", flush=True)
    metrics = None
    if args.no_api and settings.metrics_port is not None:
        # An ingest-only replica has no HTTP app to carry /metrics: serve them apart.
        from gridwatch.metrics import MetricsServer

        metrics = MetricsServer(gateway.metrics)
        try:
            metrics.serve(settings.metrics_port, settings.metrics_host)
        except OSError as exc:
            gateway.stop()
            print(f"指标端口不可用 / metrics port unavailable: {exc}")
            return 1
    try:
        done.wait()
    finally:
        if metrics is not None:
            metrics.close()
        gateway.stop()
    return 0


def _calendar_or_refuse(config_dir: Path, settings: Settings, town: Town) -> None:
    """ConfigError when the dispatch tables (duty rosters included) are bad or the working
    calendar lacks this year (case actions count deadlines on it); a logged warning
    when it ends soon."""
    from datetime import UTC, datetime

    from dispatch.config import load_config
    from dispatch.workcal import require_coverage

    calendar = load_config(config_dir, town.people).calendar
    found = require_coverage(calendar, datetime.now(UTC), settings.zone)
    text = found.message()
    if text is not None:
        logging.getLogger("gridwatch.gateway").warning("%s", text)
