"""What the long-running service commands share: where the config and the database are,
their metrics port, and a stop that SIGINT or SIGTERM sets."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from gridwatch.metrics import MetricsServer
    from gridwatch.settings import Settings


def add_service_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config-dir", default=None, help="town config folder (GRIDWATCH_CONFIG_DIR)")
    p.add_argument("--database-url", default=None, help="DSN (GRIDWATCH_DATABASE_URL)")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus /metrics on this port, 0: any free one (GRIDWATCH_METRICS_PORT)",
    )


def serve_metrics(
    args: argparse.Namespace, settings: Settings, registry: CollectorRegistry
) -> MetricsServer | None:
    """The metrics server that ``--metrics-port`` or the setting asks for, started; None
    when neither does. OSError when the port is taken."""
    from gridwatch.metrics import MetricsServer

    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if port is None:
        return None
    server = MetricsServer(registry)
    server.serve(port, settings.metrics_host)
    return server


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM; install from the main thread."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
