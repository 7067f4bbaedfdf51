"""`gridwatch users`: accounts for the people of people.yaml (add, list, disable, passwd, token)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

ROLES = (
    "duty_commander",
    "town_leader",
    "village_leader",
    "grid_leader",
    "unit_leader",
    "department_staff",
    "platform",
    "device_admin",
    "auditor",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="accounts of people.yaml's people; bearer tokens")
    us = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    a = us.add_parser("add", help="add an account (role from the person's posts unless --role)")
    a.add_argument("person_id")
    a.add_argument("--role", choices=ROLES)
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    a.set_defaults(handler=_add)

    ls = us.add_parser("list", help="print the accounts as JSON lines")
    ls.set_defaults(handler=_list)

    d = us.add_parser("disable", help="disable an account; its tokens stop working at once")
    d.add_argument("person_id")
    d.add_argument("--enable", action="store_true", help="enable it again instead")
    d.set_defaults(handler=_disable)

    pw = us.add_parser("passwd", help="set a new password")
    pw.add_argument("person_id")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(handler=_passwd)

    t = us.add_parser("token", help="print a bearer token for an account as the last line")
    t.add_argument("person_id")
    t.add_argument("--ttl", type=int, help="seconds (default: GRIDWATCH_TOKEN_TTL_S)")
    t.set_defaults(handler=_token)

    for parser in (a, ls, d, pw, t):
        parser.add_argument("--config-dir", type=Path, help="town config (default: settings)")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("密码 / password: ")
    if getpass.getpass("再次输入 / again: ") != first:
        raise ValueError("the two passwords differ / 两次输入不一致")
    return first


def _context(args: argparse.Namespace) -> tuple[Any, Any]:
    from gridwatch.settings import get_settings
    from gridwatch.town import load_town

    settings = get_settings()
    return settings, load_town(args.config_dir or settings.config_dir)


def _add(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.auth.errors import UnknownPerson
    from gateway.auth.principal import role_from_posts
    from gateway.auth.store import AccountExists, add_account
    from gridwatch.domain import Role

    settings, town = _context(args)
    person = town.people.get(args.person_id)
    if person is None:
        print(f"people.yaml has no person {args.person_id!r} / 人员名册中无此人", file=sys.stderr)
        return 2
    try:
        role = Role(args.role) if args.role else role_from_posts(town, person)
        password = _password(args.password_stdin)
        with psycopg.connect(settings.database_url) as conn:
            account = add_account(conn, person.id, role, password)
    except (UnknownPerson, ValueError, AccountExists) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps({"person_id": account.person_id, "name": person.name, "role": account.role},
                     ensure_ascii=False))  # fmt: skip
    return 0


def _list(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.auth.store import list_accounts

    settings, town = _context(args)
    with psycopg.connect(settings.database_url) as conn:
        for a in list_accounts(conn):
            person = town.people.get(a.person_id)
            row = {
                "person_id": a.person_id,
                "name": person.name if person else None,
                "role": a.role,
                "disabled": a.disabled,
                "created_at": a.created_at.isoformat(),
            }
            print(json.dumps(row, ensure_ascii=False))
    return 0


def _disable(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.auth.store import set_disabled
    from gridwatch.settings import get_settings

    with psycopg.connect(get_settings().database_url) as conn:
        found = set_disabled(conn, args.person_id, not args.enable)
    if not found:
        print(f"no account for {args.person_id!r} / 无此账号", file=sys.stderr)
        return 2
    return 0


def _passwd(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.auth.store import set_password
    from gridwatch.settings import get_settings

    try:
        password = _password(args.password_stdin)
        with psycopg.connect(get_settings().database_url) as conn:
            found = set_password(conn, args.person_id, password)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not found:
        print(f"no account for {args.person_id!r} / 无此账号", file=sys.stderr)
        return 2
    return 0


def _token(args: argparse.Namespace) -> int:
    import psycopg

    from gateway.auth.config import token_config
    from gateway.auth.store import get_account
    from gateway.auth.tokens import issue_token
    from gridwatch.settings import get_settings

    settings = get_settings()
    with psycopg.connect(settings.database_url) as conn:
        account = get_account(conn, args.person_id)
    if account is None or account.disabled:
        print(f"no enabled account for {args.person_id!r} / 无可用账号", file=sys.stderr)
        return 2
    print(issue_token(token_config(settings), account.person_id, ttl_s=args.ttl))
    return 0
