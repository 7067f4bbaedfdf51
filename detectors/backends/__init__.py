"""Detector back-ends by name: an explicit registry, each imported only when chosen.

- ``yolox_onnx`` (default): YOLOX raw-head ONNX models, YOLOX-Nano COCO by default;
- ``ultralytics_onnx``: ultralytics-exported ONNX models ([1, 4 + C, N], no objectness);
- ``ultralytics``: a user's ``.pt`` through ultralytics (AGPL-3.0, optional extra
  ``ultralytics``); ``import ultralytics`` happens only when this one is built;
- ``motion``: OpenCV background subtraction.

Each takes its options as the matching ``detectors.config.BackendConfig`` member.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from detectors.config import (
    BackendConfig,
    MotionConfig,
    UltralyticsConfig,
    UltralyticsOnnxConfig,
    YoloxOnnxConfig,
)
from detectors.types import Detector, DetectorError


def _yolox_onnx(cfg: YoloxOnnxConfig) -> Detector:
    from detectors.backends.yolox_onnx import YoloxOnnx

    return YoloxOnnx(cfg)


def _ultralytics_onnx(cfg: UltralyticsOnnxConfig) -> Detector:
    from detectors.backends.ultralytics_onnx import UltralyticsOnnx

    return UltralyticsOnnx(cfg)


def _ultralytics(cfg: UltralyticsConfig) -> Detector:
    from detectors.backends.ultralytics_pt import UltralyticsPt

    return UltralyticsPt(cfg)


def _motion(cfg: MotionConfig) -> Detector:
    from detectors.backends.motion import MotionDetector

    return MotionDetector(cfg)


BACKENDS: dict[str, Callable[[Any], Detector]] = {
    "yolox_onnx": _yolox_onnx,
    "ultralytics_onnx": _ultralytics_onnx,
    "ultralytics": _ultralytics,
    "motion": _motion,
}

DEFAULT_BACKEND = "yolox_onnx"

_CONFIG: TypeAdapter[BackendConfig] = TypeAdapter(BackendConfig)


def build_detector(cfg: BackendConfig) -> Detector:
    """Build the back-end ``cfg`` configures.

    Raises ModelError (a DetectorError) for an unusable model or class list.
    """
    return BACKENDS[cfg.type](cfg)


def create_detector(name: str = DEFAULT_BACKEND, **opts: Any) -> Detector:
    """Build the back-end registered as ``name`` from keyword options.

    Raises DetectorError for an unknown name or options the back-end does not take
    (naming the option and its value), and ModelError for an unusable model.
    """
    if name not in BACKENDS:
        raise DetectorError(f"detector {name!r} is not one of {sorted(BACKENDS)}")
    try:
        cfg = _CONFIG.validate_python({**opts, "type": name})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']} (value {err.get('input')!r})"
            for err in exc.errors()
        )
        raise DetectorError(f"detector {name!r}: bad options: {problems}") from exc
    return build_detector(cfg)
