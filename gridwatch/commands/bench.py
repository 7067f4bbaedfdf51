"""`gridwatch bench`: not built yet."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="(not built yet)")
    p.set_defaults(handler=lambda args: p.error("not built yet"))
