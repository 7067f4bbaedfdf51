"""`gridwatch keys`: API keys for platforms (create, list, revoke)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from gridwatch.commands.users import ROLES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="API keys for platform integrations")
    ks = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    c = ks.add_parser("create", help="create a key; it is printed once, as the last line")
    c.add_argument("--name", required=True)
    c.add_argument("--role", required=True, choices=ROLES)
    c.set_defaults(handler=_create)

    ls = ks.add_parser("list", help="print the keys (never the secrets) as JSON lines")
    ls.set_defaults(handler=_list)

    r = ks.add_parser("revoke", help="revoke a key; requests with it get 401 at once")
    r.add_argument("key_id", type=int)
    r.set_defaults(handler=_revoke)


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _create(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.auth.store import create_key
    from gridwatch.domain import Role
    from gridwatch.settings import get_settings

    if not 1 <= len(args.name) <= 64:
        print("--name has 1 to 64 characters", file=sys.stderr)
        return 2
    with psycopg.connect(get_settings().database_url) as conn:
        row, secret = create_key(conn, args.name, Role(args.role), _operator())
    print(json.dumps({"id": row.id, "name": row.name, "role": row.role}, ensure_ascii=False))
    print("密钥只显示这一次 / the key is shown this once:", file=sys.stderr)
    print(secret)
    return 0


def _list(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.auth.store import list_keys
    from gridwatch.settings import get_settings

    with psycopg.connect(get_settings().database_url) as conn:
        for k in list_keys(conn):
            row = {
                "id": k.id,
                "name": k.name,
                "role": k.role,
                "created_by": k.created_by,
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            print(json.dumps(row, ensure_ascii=False))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.auth.store import revoke_key
    from gridwatch.settings import get_settings

    with psycopg.connect(get_settings().database_url) as conn:
        done = revoke_key(conn, args.key_id, _operator())
    if not done:
        print(f"no live key {args.key_id} / 无此有效密钥", file=sys.stderr)
        return 2
    return 0
