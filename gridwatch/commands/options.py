"""What the long-running service commands share: where the config and the database are,
and a stop that SIGINT or SIGTERM sets."""

from __future__ import annotations

import argparse
import signal
import threading


def add_service_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config-dir", default=None, help="town config folder (GRIDWATCH_CONFIG_DIR)")
    p.add_argument("--database-url", default=None, help="DSN (GRIDWATCH_DATABASE_URL)")


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM; install from the main thread."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
