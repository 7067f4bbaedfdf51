"""`gridwatch eval`: score the rules against hand-labelled intervals of sample footage."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gridwatch.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "eval",
        help="score rules against labelled footage (precision and recall per rule)",
        description="Run the detector and the rules over a labelled clip and score each rule: "
        "a detected interval matches a labelled one at temporal IoU >= 0.5, one to one.",
    )
    p.add_argument("--labels", type=Path, default=None, help="label file (default: shipped vtest)")
    p.add_argument(
        "--clip", type=Path, default=None, help="video file (default: the label's clip asset)"
    )
    p.add_argument("--detector", default="yolox_onnx", help="detector back-end name")
    p.add_argument(
        "--model", type=Path, default=None, help="model file for the back-end (default: its own)"
    )
    p.add_argument("--no-cache", action="store_true", help="run the detector even if cached")
    p.add_argument("--json", action="store_true", help="end with one JSON line of scores")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from detectors.eval import (
        DEFAULT_LABELS,
        EvalError,
        clip_detections,
        evaluate,
        load_labels,
        summary,
    )
    from detectors.types import DetectorError
    from gridwatch.settings import get_settings

    try:
        labels = load_labels(args.labels or DEFAULT_LABELS)
        clip = args.clip or _asset(labels.clip)
        cache = None if args.no_cache else Path(get_settings().cache_dir) / "eval"
        dets = clip_detections(clip, cache, args.detector, model_path=args.model)
        per_rule, per_task = evaluate(labels, dets)
    except (EvalError, DetectorError) as exc:
        print(f"gridwatch eval: {exc}", file=sys.stderr)
        return 2
    for name, s in per_task.items():
        line = f"{name:24s} tp={s.tp:3d} fp={s.fp:3d} fn={s.fn:3d}"
        print(line, file=sys.stderr if args.json else sys.stdout)
    result = summary(per_rule)
    if args.json:
        print(json.dumps(result))
    else:
        for rule, sc in result["rules"].items():
            print(f"{rule:12s} precision {sc['precision']:.2f}  recall {sc['recall']:.2f}")
    return 0


def _asset(name: str) -> Path:
    from detectors.eval import EvalError
    from gridwatch.assets import AssetError, fetch

    try:
        return fetch(name)
    except (AssetError, KeyError) as exc:
        raise EvalError(f"clip {name!r} is not available: {exc}") from exc
