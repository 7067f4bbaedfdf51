"""A user's own ultralytics ``.pt`` detect model, through ultralytics itself (optional extra).

ultralytics is AGPL-3.0 and heavy (torch), so it is imported only when this
back-end is built, never at import of ``detectors``. Its import has process-wide
side effects: it sets ``OMP_NUM_THREADS=1`` when unset and ``cv2.setNumThreads(0)``;
both are put back here, and torch gets ``threads`` threads. It is kept offline
(``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=False`` unless set) and its settings file goes
under the gridwatch cache unless ``YOLO_CONFIG_DIR`` is set.

Frames are letterboxed to a square of ``input_size`` (``rect=False``), the shape
an ONNX export of the same model has, so this back-end and ``ultralytics_onnx``
give the same boxes for a ``.pt`` and its export.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.backends.ultralytics_onnx import check_class_list, configured_model
from detectors.config import UltralyticsConfig
from detectors.types import Detections, ModelError


def import_ultralytics() -> Any:
    """``import ultralytics`` offline, undoing its thread settings; ModelError if missing."""
    import cv2

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    if "YOLO_CONFIG_DIR" not in os.environ:
        from gridwatch.settings import get_settings

        cfg = Path(get_settings().cache_dir) / "ultralytics"
        cfg.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    omp, cv_threads = os.environ.get("OMP_NUM_THREADS"), cv2.getNumThreads()
    try:
        import ultralytics
    except ImportError as exc:
        raise ModelError(
            "the ultralytics back-end needs the optional extra: pip install -e '.[ultralytics]'"
        ) from exc
    finally:
        if omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = omp
        cv2.setNumThreads(cv_threads)
    return ultralytics


class UltralyticsPt:
    """An ultralytics detect model from a ``.pt`` file; ``detect`` is serialised by a lock."""

    def __init__(self, cfg: UltralyticsConfig | None = None) -> None:
        cfg = cfg or UltralyticsConfig()
        model_path, class_names, input_size = cfg.model_path, cfg.class_names, cfg.input_size
        path = (
            Path(model_path)
            if model_path is not None
            else configured_model("ultralytics", "a .pt model file")
        )
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        if path.suffix != ".pt":
            raise ModelError(f"model file {path} is not a .pt file (ONNX: use ultralytics_onnx)")
        ultralytics = import_ultralytics()
        import torch

        torch.set_num_threads(cfg.threads)
        try:
            model = ultralytics.YOLO(str(path))
        except Exception as exc:  # ultralytics wraps torch.load and raises many kinds
            raise ModelError(
                f"model file {path} is not a loadable ultralytics model: {exc}"
            ) from exc
        if model.task != "detect":
            raise ModelError(f"model {path} is a {model.task!r} model, expected 'detect'")
        names = model.names
        embedded = tuple(str(names[i]) for i in range(len(names)))
        given = tuple(class_names) if class_names is not None else None
        self.path = path
        self.class_names: tuple[str, ...] = check_class_list(given, embedded, path)
        nc = getattr(model.model.model[-1], "nc", None)
        if nc != len(self.class_names):
            raise ModelError(
                f"model {path} has a head for {nc} classes but {len(self.class_names)} names"
            )
        self.conf, self.nms_iou, self.max_det = cfg.conf, cfg.nms_iou, cfg.max_det
        # A (height, width) tuple like the ONNX back-ends: the edge packs motion crops of
        # several cameras onto one canvas of this size.
        self.input_size = (input_size, input_size)
        self._model = model
        self._lock = threading.Lock()
        # A first call builds ultralytics' predictor; failing here fails at start-up.
        self.detect(np.full((input_size, input_size, 3), 114, np.uint8))

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> Detections:
        with self._lock:
            result = self._model.predict(
                frame_bgr,
                imgsz=self.input_size[0],
                conf=self.conf,
                iou=self.nms_iou,
                max_det=self.max_det,
                rect=False,
                device="cpu",
                verbose=False,
            )[0]
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32).reshape(-1, 4)
        score = boxes.conf.cpu().numpy().astype(np.float32).reshape(-1)
        cls = boxes.cls.cpu().numpy().astype(np.int32).reshape(-1)
        order = np.argsort(-score, kind="stable")
        return Detections(xyxy[order], score[order], cls[order], self.class_names)
