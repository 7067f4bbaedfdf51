"""``gridwatch edge``: run an edge box: cameras, detector, rules, sensors, MQTT events.

gridwatch edge --config edge.yaml
gridwatch edge --town config --camera cam-001 --camera cam-002 --sensor sen-0002
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from gridwatch.commands import Subparsers

EXIT_CONFIG = 2


def register(sub: Subparsers) -> None:
    p = sub.add_parser("edge", help="run an edge box: cameras to MQTT events (边缘盒子)")
    src = p.add_mutually_exclusive_group(required=True)
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
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
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
