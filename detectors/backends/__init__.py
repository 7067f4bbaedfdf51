"""Detector back-ends by name: an explicit registry, each imported only when chosen.

- ``yolox_onnx`` (default): YOLOX raw-head ONNX models, YOLOX-Nano COCO by default;
- ``ultralytics_onnx``: ultralytics-exported ONNX models ([1, 4 + C, N], no objectness);
- ``ultralytics``: a user's ``.pt`` through ultralytics (AGPL-3.0, optional extra
  ``ultralytics``); ``import ultralytics`` happens only when this one is built;
- ``motion``: OpenCV background subtraction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detectors.types import Detector, DetectorError


def _yolox_onnx(**opts: Any) -> Detector:
    from detectors.backends.yolox_onnx import YoloxOnnx

    return YoloxOnnx(**opts)


def _ultralytics_onnx(**opts: Any) -> Detector:
    from detectors.backends.ultralytics_onnx import UltralyticsOnnx

    return UltralyticsOnnx(**opts)


def _ultralytics(**opts: Any) -> Detector:
    from detectors.backends.ultralytics_pt import UltralyticsPt

    return UltralyticsPt(**opts)


def _motion(**opts: Any) -> Detector:
    from detectors.backends.motion import MotionDetector

    return MotionDetector(**opts)


BACKENDS: dict[str, Callable[..., Detector]] = {
    "yolox_onnx": _yolox_onnx,
    "ultralytics_onnx": _ultralytics_onnx,
    "ultralytics": _ultralytics,
    "motion": _motion,
}

DEFAULT_BACKEND = "yolox_onnx"


def create_detector(name: str = DEFAULT_BACKEND, **opts: Any) -> Detector:
    """Build the back-end registered as ``name`` with its options.

    Raises DetectorError for an unknown name or options the back-end does not take,
    and ModelError (a DetectorError) for an unusable model or class list.
    """
    try:
        factory = BACKENDS[name]
    except KeyError as exc:
        raise DetectorError(f"detector {name!r} is not one of {sorted(BACKENDS)}") from exc
    try:
        return factory(**opts)
    except TypeError as exc:
        raise DetectorError(f"detector {name!r}: bad options {sorted(opts)}: {exc}") from exc
