"""Run by test_ultralytics.py in a subprocess: everything that imports ultralytics and torch.

    python ultralytics_worker.py OUT_DIR FRAMES_NPZ

Builds a random-weight YOLOv8n offline (seeded, batch-norm statistics taken from the
frames), saves it as a ``.pt``, exports it
to ONNX, runs our ``ultralytics`` back-end on the frames and writes what it saw to
``OUT_DIR/pt_side.npz`` plus a JSON line on stdout. Kept out of the pytest process
because importing ultralytics changes thread settings and imports torch.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def main(out: Path, frames_npz: Path) -> int:
    import cv2
    import torch

    from detectors.backends import create_detector
    from detectors.backends.ultralytics_onnx import letterbox_center
    from detectors.backends.ultralytics_pt import import_ultralytics
    from detectors.types import ModelError

    omp_before, cv_before = os.environ.get("OMP_NUM_THREADS"), cv2.getNumThreads()
    ultralytics = import_ultralytics()
    side_effects_kept = {
        "omp": os.environ.get("OMP_NUM_THREADS") == omp_before,
        "cv2_threads": cv2.getNumThreads() == cv_before,
    }
    with np.load(frames_npz) as z:
        frames = [z[k] for k in sorted(z.files)]
    torch.manual_seed(0)
    model = ultralytics.YOLO("yolov8n.yaml")
    # Freshly initialised batch-norm statistics leave the output almost the same for every
    # frame, which would make agreement trivial; statistics measured on the frames make the
    # random network respond to its input as a trained one does. Weights stay random.
    blobs = np.concatenate([letterbox_center(f, (640, 640))[0] for f in frames])
    for module in model.model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batch
    model.model.train()
    with torch.no_grad():
        model.model(torch.from_numpy(blobs))
    model.model.eval()
    pt = out / "random_yolov8n.pt"
    model.save(str(pt))
    onnx = ultralytics.YOLO(str(pt)).export(
        format="onnx", imgsz=640, simplify=False, dynamic=False, verbose=False
    )

    det = create_detector("ultralytics", model_path=pt, conf=0.0, threads=2)
    net = det._model.model.eval()  # type: ignore[attr-defined]
    raws = []
    for f in frames:
        blob, _, _ = letterbox_center(f, (640, 640))
        with torch.no_grad():
            y = net(torch.from_numpy(blob))
        raws.append((y[0] if isinstance(y, list | tuple) else y).numpy()[0])
    raw = np.stack(raws).astype(np.float32)
    # Random weights give low class scores (the first frame's best is near 0.016): a fifth
    # of the best keeps a few dozen boxes a frame, the same threshold on both sides.
    conf = 0.2 * float(raw[0, 4:].max())
    det.conf = conf  # type: ignore[attr-defined]
    dets = [det.detect(f) for f in frames]

    try:
        create_detector("ultralytics", model_path=pt, class_names=["person", "car"])
        mismatch = ""
    except ModelError as exc:
        mismatch = str(exc)

    np.savez(
        out / "pt_side.npz",
        raw=raw,
        counts=np.array([len(d) for d in dets]),
        xyxy=np.concatenate([d.xyxy for d in dets]),
        cls=np.concatenate([d.class_id for d in dets]),
        score=np.concatenate([d.confidence for d in dets]),
    )
    print(
        json.dumps(
            {
                "pt": str(pt),
                "onnx": str(onnx),
                "conf": conf,
                "names": list(det.class_names),
                "input_size": list(det.input_size),  # type: ignore[attr-defined]
                "side_effects_kept": side_effects_kept,
                "class_mismatch_error": mismatch,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
