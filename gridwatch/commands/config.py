"""`gridwatch config`: check a town's config, synthesize a town, import GCJ-02 maps."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gridwatch.commands import Subparsers

if TYPE_CHECKING:
    from gridwatch.configfile import Problem

EXIT_INVALID = 2


def register(sub: Subparsers) -> None:
    p = sub.add_parser("config", help="check, synthesize or import a town's config (城镇配置)")
    cmds = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")

    check = cmds.add_parser(
        "check",
        help="validate every file of a config folder (town, people, devices, departments, "
        "deadlines, routing, calendar, cadence, eval labels), or one hierarchy GeoJSON; exit 2 if "
        "invalid or if the working calendar lacks the current year",
    )
    check.add_argument("path", type=Path, help="config folder, or a hierarchy .geojson file")
    check.add_argument(
        "--at",
        type=moment,
        default=None,
        metavar="T",
        help="check the working calendar as of T (ISO date or time, GRIDWATCH_TZ when it "
        "has no offset) instead of now",
    )
    check.set_defaults(handler=_check)

    synth = cmds.add_parser(
        "synth",
        help="generate a synthetic town's config folder",
        description="Size and place options left out keep the synthetic town's defaults: "
        "Jiaowei's size at Putian.",
        # Left out, a size option is left out of args too: SynthSpec holds the defaults.
        argument_default=argparse.SUPPRESS,
    )
    synth.add_argument("--seed", type=int)
    synth.add_argument("--villages", type=int)
    synth.add_argument("--grids", type=int)
    synth.add_argument("--units", type=int)
    synth.add_argument("--lon", type=float, help="centre (WGS-84)")
    synth.add_argument("--lat", type=float, help="centre (WGS-84)")
    synth.add_argument("--radius-km", type=float)
    synth.add_argument("--cameras", type=int, help="0: one per four units")
    synth.add_argument("--sensors", type=int, help="0: one per six units")
    synth.add_argument("--out", type=Path, default=Path("config"), help="folder to write")
    synth.add_argument(
        "--force", action="store_true", default=False, help="overwrite existing files"
    )
    synth.set_defaults(handler=_synth)

    imp = cmds.add_parser("import", help="convert a hierarchy GeoJSON to WGS-84")
    imp.add_argument(
        "--from",
        dest="source",
        choices=["gcj02"],
        required=True,
        help="coordinate system of IN (GCJ-02: AMap/Gaode, Tencent)",
    )
    imp.add_argument("input", type=Path, metavar="IN")
    imp.add_argument("output", type=Path, metavar="OUT")
    imp.set_defaults(handler=_import)


def moment(text: str) -> datetime:
    """``--at``: an ISO date or time; without an offset it is in GRIDWATCH_TZ."""
    from gridwatch.settings import get_settings

    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--at: {text!r}, expected an ISO date or time such as 2027-01-04T09:00"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=get_settings().zone)


def check_folder(path: Path, at: datetime | None = None) -> list[Problem]:
    """Every problem of a config folder: the town's files, the dispatch tables, eval labels,
    and a working calendar that lacks the year of ``at`` (default: now)."""
    from detectors.eval import LabelFile
    from dispatch.cadence.config import check_cadence
    from dispatch.config import CALENDAR_FILE, check_config
    from dispatch.delivery.channels import check_channels
    from dispatch.workcal import coverage
    from gridwatch.configfile import Problem, check_file
    from gridwatch.settings import get_settings
    from gridwatch.town.load import check_config_dir

    town = check_config_dir(path)
    problems = town.problems
    people = {p.id: p for _, p in town.people}
    found, config = check_config(path, people)
    problems += found
    problems += check_channels(path, people)[0]
    problems += check_cadence(path)[0]
    if config is not None:
        reach = coverage(config.calendar, at or datetime.now(UTC), get_settings().zone)
        text = reach.message()
        if not reach.usable:
            problems.append(
                Problem(str(path / CALENDAR_FILE), "years", str(reach.year), text or "")
            )
        elif text is not None:
            print(f"warning: {text}", file=sys.stderr)
    for labels in sorted((path / "labels").glob("*.yaml")):
        problems += check_file(labels, LabelFile)[0]
    return problems


def _check(args: argparse.Namespace) -> int:
    from gridwatch.town import check_path

    path: Path = args.path
    if not path.exists():
        print(f"{path}: (file): no such file or folder (value: {path})", file=sys.stderr)
        return EXIT_INVALID
    problems = check_folder(path, args.at) if path.is_dir() else check_path(path)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"配置无效：{len(problems)} 个问题 / invalid: {len(problems)} problem(s)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    print(f"配置有效 / valid: {path}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from gridwatch.town.synth import SynthSpec, synth_town, write_config

    given = vars(args)
    try:
        spec = SynthSpec(**{f.name: given[f.name] for f in fields(SynthSpec) if f.name in given})
    except ValueError as exc:
        print(f"gridwatch config synth: {exc}", file=sys.stderr)
        return EXIT_INVALID
    names = ("town.geojson", "people.yaml", "devices.yaml", "departments.yaml")
    existing = [n for n in names if (args.out / n).exists()]
    if existing and not args.force:
        print(
            f"gridwatch config synth: {args.out} already has {', '.join(existing)}; "
            "use --force to overwrite",
            file=sys.stderr,
        )
        return EXIT_INVALID
    town = synth_town(spec)
    write_config(town, args.out, spec)
    print(
        f"wrote {args.out}: {spec.villages} villages, {spec.grids} grids, {spec.units} units, "
        f"{len(town.people)} people, {len(town.devices)} devices; "
        f"vacant unit leaders: {', '.join(town.vacant_units)}"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    import json

    from gridwatch.town.gcj02 import convert_geojson

    try:
        data = json.loads(args.input.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"{args.input}: (file): cannot read as JSON: {exc}", file=sys.stderr)
        return EXIT_INVALID
    out = convert_geojson(data)
    args.output.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    print(
        f"wrote {args.output} (WGS-84, from GCJ-02); check it with: gridwatch config check "
        f"{args.output}"
    )
    return 0
