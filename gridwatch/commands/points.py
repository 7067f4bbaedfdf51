"""`gridwatch points`: the points ledger (积分): accrue from case history, balances, redeem."""

from __future__ import annotations

import argparse
from typing import Any

from gridwatch.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser("points", help="the points ledger (积分): accrue, balance, redeem")
    p.add_argument("--config-dir", default=None, help="town config folder (GRIDWATCH_CONFIG_DIR)")
    p.add_argument("--database-url", default=None, help="DSN (GRIDWATCH_DATABASE_URL)")
    cmds = p.add_subparsers(dest="points_command", required=True, metavar="ACTION")
    cmds.add_parser("accrue", help="add the entries of new case history (idempotent)")
    bal = cmds.add_parser("balance", help="a person's balance")
    bal.add_argument("person")
    red = cmds.add_parser("redeem", help="exchange points for goods; refused past the balance")
    red.add_argument("person")
    red.add_argument("points", type=int)
    red.add_argument("--item", required=True, help="what the points were exchanged for")
    red.add_argument("--key", required=True, help="the voucher number: recorded once")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime
    from pathlib import Path

    import psycopg

    from dispatch.cadence import ledger
    from dispatch.cadence.config import load_cadence
    from dispatch.errors import ActionInputError, ConfigError
    from gridwatch.settings import get_settings

    settings = get_settings()
    config_dir = Path(args.config_dir) if args.config_dir else settings.config_dir
    try:
        amounts = load_cadence(config_dir).points
    except ConfigError as exc:
        print(f"配置无效 / config invalid ({config_dir}): {exc}")
        return 2
    now = datetime.now(UTC)
    out: dict[str, Any]
    try:
        with psycopg.connect(args.database_url or settings.database_url, autocommit=True) as conn:
            if args.points_command == "accrue":
                out = {"added": ledger.accrue(conn, amounts, now, now)}
            elif args.points_command == "balance":
                out = {"person": args.person, "balance": ledger.balance(conn, args.person)}
            else:
                left = ledger.redeem(conn, args.person, args.points, args.item, now, args.key)
                out = {"person": args.person, "balance": left}
    except psycopg.OperationalError as exc:
        print(f"数据库不可用 / database unavailable: {exc}")
        return 1
    except ActionInputError as exc:
        print(f"积分不足或参数无效 / refused: {exc}")
        return 2
    print(json.dumps(out, ensure_ascii=False))
    return 0
