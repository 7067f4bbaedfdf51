"""`gridwatch report daily|weekly|monthly|fortnight`: a period's report as JSON and HTML."""

from __future__ import annotations

import argparse
from pathlib import Path

from gridwatch.commands import Subparsers

KINDS = ("daily", "weekly", "monthly", "fortnight")


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "report",
        help="a period's report (日报/周报/月报/双周排名) as JSON and a printable HTML page",
        description="Counts, times, escalations, the four rates, mediation and, for a "
        "fortnight, the ranking of the people cases were assigned to (docs/reports.md). "
        "A complete town-wide fortnight's lowest ranked are recorded once, never rewritten.",
    )
    p.add_argument("kind", choices=KINDS)
    p.add_argument(
        "--date",
        type=_day,
        default=None,
        help="a day in the period, YYYY-MM-DD in GRIDWATCH_TZ (default: today)",
    )
    p.add_argument("--scope", default=None, help="an area id: unit, grid, village or town")
    p.add_argument("--out", type=Path, default=Path("reports"), help="folder to write to")
    p.add_argument("--lang", choices=("zh", "en"), default=None, help="GRIDWATCH_LANG (zh)")
    p.add_argument(
        "--no-record", action="store_true", help="do not record the fortnight's lowest ranked"
    )
    p.add_argument("--config-dir", default=None, help="town config folder (GRIDWATCH_CONFIG_DIR)")
    p.add_argument("--database-url", default=None, help="DSN (GRIDWATCH_DATABASE_URL)")
    p.set_defaults(handler=_run)


def _day(text: str) -> object:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--date: {text!r}, expected YYYY-MM-DD") from exc


def _run(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    import psycopg

    from dispatch.cadence import ledger
    from dispatch.cadence.config import load_cadence
    from dispatch.cadence.render import render_html
    from dispatch.cadence.review import ReviewSetup, build, town_devices, town_names
    from dispatch.config import load_config
    from dispatch.errors import ConfigError
    from gridwatch.settings import get_settings
    from gridwatch.town import TownError, load_town

    settings = get_settings()
    config_dir = Path(args.config_dir) if args.config_dir else settings.config_dir
    lang = args.lang or settings.lang
    try:
        setup = ReviewSetup(
            settings.zone, load_cadence(config_dir), load_config(config_dir).deadlines
        )
        town = load_town(config_dir)
    except (TownError, ConfigError) as exc:
        print(f"配置无效 / config invalid ({config_dir}): {exc}")
        return 2
    if args.scope is not None and args.scope not in town.hierarchy.areas:
        print(f"--scope: {args.scope!r}, expected an area id of the town ({config_dir})")
        return 2
    now = datetime.now(UTC)
    day = args.date or now.astimezone(setup.tz).date()
    try:
        with psycopg.connect(args.database_url or settings.database_url, autocommit=True) as conn:
            # The ledger first, so the report's points include the period's last events.
            ledger.accrue(conn, setup.cadence.points, now, now)
            report = build(
                conn,
                setup,
                args.kind,
                day,
                now,
                area=args.scope,
                record=args.kind == "fortnight" and not args.no_record,
                devices=town_devices(town),
            )
    except psycopg.OperationalError as exc:
        print(f"数据库不可用 / database unavailable: {exc}")
        return 1
    except ValueError as exc:
        print(f"报告参数无效 / bad report arguments: {exc}")
        return 2
    stem = f"{args.kind}-{report['period']['first_day']}" + (f"-{args.scope}" if args.scope else "")
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = args.out / f"{stem}.json", args.out / f"{stem}.html"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    html_path.write_text(render_html(report, lang, town_names(town, lang)), encoding="utf-8")
    print(json.dumps({"json": str(json_path), "html": str(html_path)}, ensure_ascii=False))
    return 0
