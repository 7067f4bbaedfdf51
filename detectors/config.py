"""What only the detectors configure: each back-end's options, and each rule's default category.

``BackendConfig`` is a union discriminated on ``type`` (the back-end's name in
``detectors.backends.BACKENDS``), as the rules are. An option left out (None) is
the back-end's own default, so the defaults live once, in the back-ends.
The zones and rules a camera configures are in :mod:`gridwatch.camera_rules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridwatch.domain import Category

#: Category of a rule's events when the rule names none, by rule type.
DEFAULT_CATEGORY: dict[str, Category] = {
    "intrusion": Category.INTRUSION,
    "loitering": Category.LOITERING,
    "crowding": Category.CROWDING,
    "parking": Category.ILLEGAL_PARKING,
    "line": Category.LINE_CROSSING,
    "left_behind": Category.ABANDONED_OBJECT,
    "tamper": Category.CAMERA_TAMPER,
    "fire_smoke": Category.FIRE_SMOKE,
    "sensor": Category.SENSOR_ALARM,
}


class _Backend(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def options(self) -> dict[str, Any]:
        """The keyword options for the back-end's constructor: those given, without ``type``."""
        return self.model_dump(exclude={"type"}, exclude_none=True)


class _ModelBackend(_Backend):
    model_path: Path | None = Field(
        None, description="Model file; default GRIDWATCH_MODEL_PATH or the back-end's own"
    )
    class_names: list[str] | None = Field(
        None, min_length=1, max_length=10_000, description="Class names in model order"
    )
    conf: float | None = Field(None, ge=0, le=1, description="Lowest score kept")
    nms_iou: float | None = Field(None, gt=0, le=1, description="Overlap that suppresses a box")
    threads: int | None = Field(None, ge=1, le=64, description="Inference threads per call")


class YoloxOnnxConfig(_ModelBackend):
    """YOLOX raw-head ONNX models (YOLOX-Nano COCO by default)."""

    type: Literal["yolox_onnx"] = "yolox_onnx"
    names_file: Path | None = Field(None, description="Class names, one a line")
    input_size: int | None = Field(None, ge=32, le=4096, multiple_of=32)


class UltralyticsOnnxConfig(_ModelBackend):
    """Ultralytics-exported ONNX models ([1, 4 + C, N], no objectness)."""

    type: Literal["ultralytics_onnx"] = "ultralytics_onnx"
    names_file: Path | None = Field(None, description="Class names, one a line")
    max_det: int | None = Field(None, ge=1, le=10_000)


class UltralyticsConfig(_ModelBackend):
    """A ``.pt`` model through the ultralytics package (optional extra ``ultralytics``)."""

    type: Literal["ultralytics"] = "ultralytics"
    max_det: int | None = Field(None, ge=1, le=10_000)
    input_size: int | None = Field(None, ge=32, le=4096, multiple_of=32)


class MotionConfig(_Backend):
    """OpenCV background subtraction: moving blobs as class ``motion``."""

    type: Literal["motion"] = "motion"
    scale_width: int | None = Field(None, ge=32, le=4096, description="Width it works at")
    history: int | None = Field(None, ge=1, le=100_000, description="Frames the background learns")
    var_threshold: float | None = Field(None, gt=0, le=10_000)
    min_area_frac: float | None = Field(None, ge=0, lt=1, description="Smallest blob kept")


BackendConfig = Annotated[
    YoloxOnnxConfig | UltralyticsOnnxConfig | UltralyticsConfig | MotionConfig,
    Field(discriminator="type"),
]
