"""``gridwatch edge``: run an edge box: cameras, detector, rules, sensors, MQTT events.

gridwatch edge --config edge.yaml
gridwatch edge --town config --camera cam-001 --camera cam-002 --sensor sen-0002
gridwatch edge push-config --camera cam-001 --file zones.yaml --version 2026-12-04.1
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from gridwatch.commands import Subparsers
from gridwatch.logs import setup_logging

if TYPE_CHECKING:
    from gateway.contract import ConfigPush

EXIT_CONFIG = 2


def register(sub: Subparsers) -> None:
    p = sub.add_parser("edge", help="run an edge box: cameras to MQTT events (边缘盒子)")
    p.add_argument(
        "action",
        nargs="?",
        choices=["run", "push-config"],
        default="run",
        help="run (default) the box, or push-config: publish --file's zones, rules, "
        "detect_fps, privacy or homography to "
        "--camera on its retained config topic",
    )
    p.add_argument(
        "--file",
        type=Path,
        help="push-config: YAML with zones, rules, detect_fps, privacy, homography",
    )
    p.add_argument("--version", dest="push_version", help="push-config: the config's version")
    p.add_argument(
        "--force",
        action="store_true",
        help="push-config: send even when the edge's models refuse it here",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--config", type=Path, help="edge YAML (box, mqtt, detector, cameras, sensors)"
    )
    src.add_argument("--town", type=Path, help="town config folder; use with --camera")
    p.add_argument(
        "--camera",
        "--sensor",
        dest="camera",
        action="append",
        default=[],
        metavar="ID",
        help="camera or sensor id from the town's devices.yaml (repeatable); a sensor "
        "without a source in an edge YAML is simulated",
    )
    p.add_argument("--box-id", help="edge box id (with --town; default edge-<first camera>)")
    p.add_argument("--snapshot-dir", type=Path, help="with --town: where snapshots go")
    p.add_argument(
        "--stagger",
        type=float,
        default=0.0,
        metavar="S",
        help="with --town: the i-th camera's file replay starts i*S seconds in",
    )
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on this port (0: any free port; overrides the config)",
    )
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level.upper())
    if args.action == "push-config":
        return _push_config(args)
    if args.config is None and args.town is None:
        print("give --config FILE or --town DIR", file=sys.stderr)
        return EXIT_CONFIG
    from detectors.types import DetectorError
    from edge.agent import EdgeAgent
    from edge.config import EdgeConfigError, config_from_town, load_edge_config

    try:
        if args.config is not None:
            if args.camera:
                print("--camera goes with --town, not --config", file=sys.stderr)
                return EXIT_CONFIG
            cfg = load_edge_config(args.config)
        else:
            if not args.camera:
                print("--town needs at least one --camera ID", file=sys.stderr)
                return EXIT_CONFIG
            cfg = config_from_town(
                args.town,
                args.camera,
                box_id=args.box_id,
                snapshot_dir=args.snapshot_dir,
                start_offsets={c: i * args.stagger for i, c in enumerate(args.camera)},
            )
        if args.metrics_port is not None:
            cfg = cfg.model_copy(update={"metrics_port": args.metrics_port})
        agent = EdgeAgent(cfg)
    except (EdgeConfigError, DetectorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    for cam_id, err in agent.errors.items():
        print(f"error: camera {cam_id} is not running: {err}", file=sys.stderr)
    summary = agent.run(args.duration, stop)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _push_config(args: argparse.Namespace) -> int:
    import yaml

    from gateway.push_config import PushError, config_message, push_config
    from gridwatch.settings import get_settings

    if len(args.camera) != 1 or args.file is None or not args.push_version:
        print("push-config needs one --camera ID, --file FILE and --version V", file=sys.stderr)
        return EXIT_CONFIG
    try:
        config = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not isinstance(config, dict):
        print(f"error: {args.file}: expected a mapping with zones and rules", file=sys.stderr)
        return EXIT_CONFIG
    try:
        message = config_message(args.camera[0], args.push_version, config)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not args.force:
        problem = _check_push(message)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_CONFIG
    try:
        name = push_config(get_settings(), message)
    except PushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"topic": name, "version": message.version}))
    return 0


def _check_push(message: ConfigPush) -> str | None:
    """Why the edge would refuse the push (its own models, over a stand-in camera), or None."""
    from edge.config import CameraConfig
    from edge.remote_config import PushRefused, pushed_camera

    base = CameraConfig.model_validate({"id": message.device_id, "stream": "asset://vtest.avi"})
    try:
        pushed_camera(base, message)
    except PushRefused as exc:
        return str(exc)
    return None
