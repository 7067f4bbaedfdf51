"""Detector speed per back-end and model, and what the whole camera pipeline sustains per core.

    python bench/detect.py --json [--frames 60] [--pipeline-frames 100] [--threads 2]
                           [--model-pt FILE.pt] [--model-onnx FILE.onnx]
    gridwatch bench detect --json

For each back-end and model on this box, on real vtest.avi frames (768x576):
- ``detect``: ms per frame including pre- and post-processing (median, p95), frames/s
  and cores used, with ``--threads`` inference threads;
- ``pipeline``: the edge loop on one thread (decode the clip in order, detect, track,
  rules of the shipped vtest labels), timed by stage; ``fps_per_core`` is frames per
  CPU-second of the process, the rate one core sustains.

The ultralytics runs need the ``ultralytics`` extra. Without ``--model-pt`` they use
a random-weight YOLOv8n built offline and its ONNX export: same architecture, same
cost as trained weights, but their detections mean nothing (``random_weights``).
The last line is one JSON object; reference figures for this kind of 2-core box from
``shared/notes/vision.md`` are printed beside ours.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._boxref import box_ref

BASELINES_MS = {
    "yolox_nano_416_onnxruntime_2_threads_with_pre_post": [14, 19],
    "yolox_nano_416_onnxruntime_1_thread_with_pre_post": [19, 27],
    "yolov8n_640_onnxruntime_2_threads": [62, 94],
    "yolov8n_640_onnxruntime_1_thread": [115, 138],
    "yolov8n_640_ultralytics_predict_torch_cpu": [85, 113],
    "mog2_640x360": [3.5, 3.5],
}


def _clip() -> Path:
    from gridwatch.assets import fetch

    return fetch("vtest.avi")


def _frames(n: int) -> list[Any]:
    """``n`` frames spread over the clip."""
    import cv2

    cap = cv2.VideoCapture(str(_clip()))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 795
    step = max(1, total // n)
    frames: list[Any] = []
    try:
        while len(frames) < n:
            ok, frame = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            frames.append(frame)
            for _ in range(step - 1):
                cap.grab()
    finally:
        cap.release()
    return frames


def _measure(det: Any, frames: list[Any]) -> dict[str, Any]:
    for f in frames[:5]:
        det.detect(f)  # warm-up: first runs allocate and tune
    times, found = [], 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for f in frames:
        t = time.perf_counter()
        found += len(det.detect(f))
        times.append((time.perf_counter() - t) * 1000)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    times.sort()
    return {
        "frames": len(frames),
        "ms_median": round(statistics.median(times), 2),
        "ms_p95": round(times[int(0.95 * (len(times) - 1))], 2),
        "fps": round(len(frames) / wall, 1),
        "cores_used": round(cpu / wall, 2),
        "detections_per_frame": round(found / len(frames), 2),
    }


def _engine() -> Any:
    """One camera's rules: every zone and rule of the shipped vtest labels."""
    from zoneinfo import ZoneInfo

    from detectors.engine import build_camera_rules
    from detectors.eval import DEFAULT_LABELS, load_labels
    from gridwatch.camera_rules import CameraRulesConfig

    labels = load_labels(DEFAULT_LABELS)
    rules = [t.rule for t in labels.tasks]
    cfg = CameraRulesConfig(zones=labels.zones, rules=rules, frame_rate=labels.fps)
    return build_camera_rules(cfg, ZoneInfo("Asia/Shanghai"))


def _pipeline(det: Any, n: int) -> dict[str, Any]:
    """Decode ``n`` frames in order, detect, track and apply the rules; time each stage."""
    import cv2

    engine = _engine()
    cap = cv2.VideoCapture(str(_clip()))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    spent = {"decode": 0.0, "detect": 0.0, "track_rules": 0.0}
    hits = done = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        while done < n:
            a = time.perf_counter()
            ok, frame = cap.read()
            if not ok:
                break
            b = time.perf_counter()
            dets = det.detect(frame)
            c = time.perf_counter()
            hits += len(engine.step(t0 + timedelta(seconds=done / 10), frame, dets))
            d = time.perf_counter()
            spent["decode"] += b - a
            spent["detect"] += c - b
            spent["track_rules"] += d - c
            done += 1
    finally:
        cap.release()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "frames": done,
        "ms_per_frame": {k: round(v * 1000 / max(done, 1), 2) for k, v in spent.items()},
        "fps": round(done / wall, 1),
        "cores_used": round(cpu / wall, 2),
        "fps_per_core": round(done / cpu, 1) if cpu > 0 else None,
        "rule_hits": hits,
    }


def _ultralytics_models(tmp: Path, pt: Path | None, onnx: Path | None) -> dict[str, Any]:
    """The .pt and ONNX models to time; a random-weight YOLOv8n when none is given."""
    if pt is not None or onnx is not None:
        return {"pt": pt, "onnx": onnx, "random_weights": False, "model": "user's"}
    if importlib.util.find_spec("ultralytics") is None:
        return {}
    from detectors.backends.ultralytics_pt import import_ultralytics

    ultralytics = import_ultralytics()
    import torch

    torch.manual_seed(0)
    path = tmp / "yolov8n_random.pt"
    ultralytics.YOLO("yolov8n.yaml").save(str(path))
    exported = ultralytics.YOLO(str(path)).export(
        format="onnx", imgsz=640, simplify=False, dynamic=False, verbose=False
    )
    return {"pt": path, "onnx": Path(exported), "random_weights": True, "model": "YOLOv8n 640"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--json", action="store_true", help="print only the JSON summary line")
    p.add_argument("--frames", type=int, default=60, help="frames timed per detect run")
    p.add_argument("--pipeline-frames", type=int, default=100, help="frames per pipeline run")
    p.add_argument("--threads", type=int, default=2, help="inference threads for detect runs")
    p.add_argument("--model-pt", type=Path, default=None, help="ultralytics .pt to time")
    p.add_argument("--model-onnx", type=Path, default=None, help="ultralytics ONNX to time")
    args = p.parse_args(argv)

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    # ultralytics logs to stdout; the JSON line must be the only thing there with --json.
    os.environ.setdefault("YOLO_VERBOSE", "False")
    from detectors.backends import create_detector

    frames = _frames(args.frames)
    results = []
    with tempfile.TemporaryDirectory(prefix="gridwatch-bench-detect-") as tmp:
        ul = _ultralytics_models(Path(tmp), args.model_pt, args.model_onnx)
        runs: list[tuple[str, str, dict[str, Any]]] = [
            ("yolox_onnx", "YOLOX-Nano 416 (COCO)", {}),
        ]
        if ul.get("onnx"):
            runs.append(("ultralytics_onnx", ul["model"], {"model_path": ul["onnx"]}))
        if ul.get("pt"):
            runs.append(("ultralytics", ul["model"], {"model_path": ul["pt"]}))
        runs.append(("motion", "MOG2 at 640 px wide", {"scale_width": 640}))
        for name, model, opts in runs:
            threaded = {} if name == "motion" else {"threads": args.threads}
            single = {} if name == "motion" else {"threads": 1}
            r: dict[str, Any] = {"backend": name, "model": model}
            if name.startswith("ultralytics"):
                r["random_weights"] = ul["random_weights"]
            r["detect"] = {
                "threads": args.threads,
                **_measure(create_detector(name, **opts, **threaded), frames),
            }
            if single:
                r["detect_1_thread"] = _measure(create_detector(name, **opts, **single), frames)
            r["pipeline_1_thread"] = _pipeline(
                create_detector(name, **opts, **single), args.pipeline_frames
            )
            results.append(r)
            if not args.json:
                print(
                    f"{name} ({model}): detect {r['detect']['ms_median']} ms, pipeline "
                    f"{r['pipeline_1_thread']['fps_per_core']} frames/s per core",
                    file=sys.stderr,
                )
    out = {
        "bench": "detect",
        "frame_size": list(frames[0].shape[1::-1]),
        "box_cores": os.cpu_count(),
        "ultralytics_installed": bool(ul),
        "results": results,
        "baselines_ms_this_box_kind": BASELINES_MS,
        # How fast the box was in this run: compare figures across runs with it.
        "box_ref": box_ref(),
        "load_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
