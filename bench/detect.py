"""Detector speed: ms per frame including pre- and post-processing, per back-end.

    python bench/detect.py --json [--frames 100] [--threads 2]

Runs each back-end on real frames of vtest.avi (768x576) and prints one JSON
object as its last line: per back-end the median and p95 ms per frame, frames/s,
frames/s per core used, and detections per frame. Reference figures from
``shared/notes/vision.md`` (this kind of 2-core box) are printed beside ours.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BASELINES_MS = {
    "yolox_nano_416_onnxruntime_2_threads_with_pre_post": [14, 19],
    "yolox_nano_416_onnxruntime_1_thread_with_pre_post": [19, 27],
    "yolov8n_640_onnxruntime_2_threads": [62, 94],
    "mog2_640x360": [3.5, 3.5],
}


def _frames(n: int) -> list[Any]:
    import cv2

    from gridwatch.assets import fetch

    cap = cv2.VideoCapture(str(fetch("vtest.avi")))
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


def _measure(name: str, opts: dict[str, Any], frames: list[Any], cores: int) -> dict[str, Any]:
    from detectors.backends import create_detector

    det = create_detector(name, **opts)
    for f in frames[:5]:
        det.detect(f)  # warm-up: first runs allocate and tune
    times, found = [], 0
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for f in frames:
        t = time.perf_counter()
        found += len(det.detect(f))
        times.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    times.sort()
    med = statistics.median(times)
    return {
        "backend": name,
        "options": opts,
        "frames": len(frames),
        "ms_median": round(med, 2),
        "ms_p95": round(times[int(0.95 * (len(times) - 1))], 2),
        "fps": round(len(frames) / wall, 1),
        "cores_used": round(cpu / wall, 2),
        "fps_per_core": round(len(frames) / cpu, 1) if cpu > 0 else None,
        "detections_per_frame": round(found / len(frames), 2),
        "box_cores": cores,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print only the JSON summary line")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads")
    args = p.parse_args(argv)

    frames = _frames(args.frames)
    cores = os.cpu_count() or 1
    runs = [
        ("yolox_onnx", {"threads": args.threads}),
        ("yolox_onnx", {"threads": 1}),
        ("motion", {"scale_width": 640}),
    ]
    results = []
    for name, opts in runs:
        r = _measure(name, opts, frames, cores)
        results.append(r)
        if not args.json:
            print(f"{name} {opts}: {r['ms_median']} ms median, {r['fps']} fps", file=sys.stderr)
    out = {
        "bench": "detect",
        "frame_size": list(frames[0].shape[1::-1]),
        "results": results,
        "baselines_ms_this_box_kind": BASELINES_MS,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
