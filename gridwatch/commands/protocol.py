"""``gridwatch protocol schema``: export the MQTT contract as JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gridwatch.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser("protocol", help="the MQTT contract")
    psub = p.add_subparsers(dest="protocol_command", required=True)
    s = psub.add_parser("schema", help="print JSON Schema of every message kind")
    s.add_argument("--out", type=Path, help="write to this file instead of stdout")
    s.set_defaults(handler=_schema)


def _schema(args: argparse.Namespace) -> int:
    from gateway.contract import json_schemas

    text = json.dumps(json_schemas(), indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0
