"""`gridwatch duty now`: who is duty commander (值班指挥长) now, or at ``--at``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gridwatch.commands import Subparsers
from gridwatch.commands.config import EXIT_INVALID, moment

_WHY = {
    "rotation": "轮值 / rotation",
    "override": "调班 / override",
    "leave": "顶班 / standing in",
}


def register(sub: Subparsers) -> None:
    p = sub.add_parser("duty", help="the duty roster: who is duty commander (值班指挥长)")
    cmds = p.add_subparsers(dest="duty_command", required=True, metavar="ACTION")
    now = cmds.add_parser("now", help="who is on duty now, or at --at, per roster")
    when = "ISO date or time (GRIDWATCH_TZ when it has no offset); default: now"
    now.add_argument("--at", type=moment, default=None, metavar="T", help=when)
    now.add_argument("--roster", default=None, help="one roster id (default: every roster)")
    now.add_argument("--config-dir", type=Path, default=None, help="GRIDWATCH_CONFIG_DIR")
    now.set_defaults(handler=_now)


def _now(args: argparse.Namespace) -> int:
    from dispatch.config import DUTY_FILE, load_config
    from dispatch.duty import NoOneOnDuty, on_duty
    from dispatch.errors import ConfigError
    from gridwatch.settings import get_settings
    from gridwatch.town import TownError, load_town

    settings = get_settings()
    folder: Path = args.config_dir or settings.config_dir
    tz = settings.zone
    try:
        town = load_town(folder)
        config = load_config(folder, town.people)
    except (TownError, ConfigError) as exc:
        print(f"配置无效 / config invalid ({folder}): {exc}", file=sys.stderr)
        return EXIT_INVALID
    if config.duty is None or not config.duty.rosters:
        print(f"{folder / DUTY_FILE}: 没有值班表 / no duty roster", file=sys.stderr)
        return EXIT_INVALID
    rosters = config.duty.rosters
    if args.roster is not None and args.roster not in rosters:
        print(
            f"--roster: {args.roster!r}, expected one of {sorted(rosters)}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    at: datetime = args.at or datetime.now(UTC)
    failed = False
    for rid in [args.roster] if args.roster else sorted(rosters):
        spec = rosters[rid]
        try:
            duty = on_duty(rid, spec, at, tz)
        except ValueError as exc:
            print(f"--at: {exc}", file=sys.stderr)
            return EXIT_INVALID
        except NoOneOnDuty as exc:
            print(f"{spec.name} / {spec.name_en} ({rid}): 无人值班 / no one on duty: {exc}")
            failed = True
            continue
        person = town.people.get(duty.person)
        name = person.name if person else duty.person
        phone = person.phone if person else "-"
        span = f"{_local(duty.since, tz)} - {_local(duty.until, tz)}"
        why = _WHY[duty.why] + (f" {duty.instead_of}" if duty.instead_of else "")
        print(
            f"{spec.name} / {spec.name_en} ({rid}): {name} {duty.person}, "
            f"电话 / phone {phone}, {span} ({why})"
        )
    return 1 if failed else 0


def _local(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")
