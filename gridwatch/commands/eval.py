"""`gridwatch eval`: score the rules against hand-labelled intervals of sample footage."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gridwatch.commands import Subparsers

#: The edge cameras' default detect rate (edge.config.CameraConfig.detect_fps).
EDGE_DETECT_FPS = 5.0


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "eval",
        help="score rules against labelled footage (precision and recall per rule)",
        description="Run the detector and the rules over labelled clips and score each rule: "
        "a detected interval matches a labelled one at temporal IoU >= 0.5, one to one.",
    )
    p.add_argument(
        "--labels",
        type=Path,
        action="append",
        default=None,
        help="label file; repeat for several (default: every file in config/labels)",
    )
    p.add_argument(
        "--clip", type=Path, default=None, help="video file (default: each label's clip asset)"
    )
    p.add_argument("--detector", default="yolox_onnx", help="detector back-end name")
    p.add_argument(
        "--model", type=Path, default=None, help="model file for the back-end (default: its own)"
    )
    p.add_argument(
        "--path",
        choices=("full", "edge"),
        default="full",
        help="full: every frame at full size; edge: the edge's detect rate, motion gating and "
        "mosaic, scored beside the full-frame path",
    )
    p.add_argument(
        "--detect-fps",
        type=float,
        default=EDGE_DETECT_FPS,
        help=f"the camera's detect rate for --path edge (default {EDGE_DETECT_FPS:g})",
    )
    p.add_argument("--no-cache", action="store_true", help="run the detector even if cached")
    p.add_argument(
        "--verbose", action="store_true", help="each task's detected and labelled intervals"
    )
    p.add_argument("--json", action="store_true", help="end with one JSON line of scores")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from detectors.eval import EvalError
    from detectors.types import DetectorError

    try:
        result = _evaluate(args)
    except (EvalError, DetectorError) as exc:
        print(f"gridwatch eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        for rule, sc in result["rules"].items():
            line = f"{rule:12s} precision {sc['precision']:.2f}  recall {sc['recall']:.2f}"
            print(f"{line}  false alarms/h {sc['false_alarms_per_hour']:.1f}")
        if "recall_ratio" in result:
            print(f"recall vs full frame: {result['recall_ratio']}")
            print(f"detector ran on {result['detector_frame_share']:.0%} of frames played")
    return 0


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from detectors.eval import (
        Played,
        Score,
        TaskResult,
        clip_detections,
        default_label_files,
        evaluate_tasks,
        footage_hours,
        load_labels,
        summary,
    )
    from gridwatch.settings import get_settings

    files = args.labels or default_label_files()
    labels = [load_labels(f) for f in files]
    cache = None if args.no_cache else Path(get_settings().cache_dir) / "eval"
    out = sys.stderr if args.json else sys.stdout
    totals: dict[str, dict[str, Score]] = {"full": {}, "edge": {}}
    shares: list[tuple[int, int, int, int]] = []
    clips: dict[str, Any] = {}
    for lf in labels:
        clip = args.clip or _asset(lf.clip)
        runs: dict[str, list[TaskResult]] = {}
        if lf.clip not in clips:
            clips[lf.clip] = {
                "full": clip_detections(clip, cache, args.detector, model_path=args.model)
            }
            if args.path == "edge":
                from edge.replay import edge_detections

                picked, dets, stats = edge_detections(
                    clip, lf.fps, args.detect_fps, cache, args.detector, args.model
                )
                clips[lf.clip]["edge"] = (picked, dets)
                shares.append(
                    (stats.played, stats.detector_frames, stats.pixels, stats.full_pixels)
                )
        runs["full"] = evaluate_tasks(lf, clips[lf.clip]["full"])
        if args.path == "edge":
            picked, dets = clips[lf.clip]["edge"]
            played = Played(tuple(picked), args.detect_fps, len(clips[lf.clip]["full"]))
            runs["edge"] = evaluate_tasks(lf, dets, played)
        for path, results in runs.items():
            for r in results:
                totals[path][r.rule] = totals[path].get(r.rule, Score(0, 0, 0)) + r.score
                s = r.score
                print(f"{path:4s} {r.name:24s} tp={s.tp:3d} fp={s.fp:3d} fn={s.fn:3d}", file=out)
                if args.verbose:
                    print(f"     detected {_spans(r.detected, lf.fps)}", file=out)
                    print(f"     labelled {_spans(r.labelled, lf.fps)}", file=out)
    hours = footage_hours(labels)
    main = "edge" if args.path == "edge" else "full"
    result = summary(totals[main], hours)
    result["path"] = main
    result["footage_hours"] = round(hours, 4)
    if args.path == "edge":
        full = summary(totals["full"], hours)
        result["full_frame"] = full
        result["recall_ratio"] = {
            rule: round(sc["recall"] / full["rules"][rule]["recall"], 4)
            if full["rules"][rule]["recall"]
            else None
            for rule, sc in result["rules"].items()
        }
        played, ran, px, full_px = (sum(v) for v in zip(*shares, strict=True))
        result["detect_fps"] = args.detect_fps
        result["frames_played"] = played
        result["detector_frame_share"] = round(ran / played, 4) if played else 0.0
        result["detector_pixel_share"] = round(px / full_px, 4) if full_px else 0.0
    return result


def _spans(intervals: Any, fps: float) -> str:
    """Intervals as clip frames, ``first-last``."""
    return ", ".join(f"{round(i.start * fps)}-{round(i.end * fps) - 1}" for i in intervals) or "-"


def _asset(name: str) -> Path:
    from detectors.eval import EvalError
    from gridwatch.assets import AssetError, fetch

    try:
        return fetch(name)
    except (AssetError, KeyError) as exc:
        raise EvalError(f"clip {name!r} is not available: {exc}") from exc
