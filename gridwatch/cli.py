"""The ``gridwatch`` command line: one subcommand group per module in ``commands``.

Each module exposes ``register(subparsers)``; heavy imports (OpenCV, psycopg,
FastAPI) happen inside the handlers so ``gridwatch config check`` starts fast
and an edge box needs no server packages.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gridwatch import __version__

#: Explicit registry: order is the order of ``gridwatch --help``.
COMMAND_MODULES = (
    "config",
    "locate",
    "protocol",
    "db",
    "gateway",
    "broker",
    "users",
    "keys",
    "dispatch",
    "duty",
    "deliver",
    "report",
    "points",
    "snapshots",
    "edge",
    "demo",
    "eval",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridwatch", description="IoT sensing and dispatch for grid-based local governance"
    )
    parser.add_argument("--version", action="version", version=f"gridwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"gridwatch.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
