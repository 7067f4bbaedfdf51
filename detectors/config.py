"""What only the detectors configure: each back-end's options, and each rule's default category.

``BackendConfig`` is a union discriminated on ``type`` (the back-end's name in
``detectors.backends.BACKENDS``), as the rules are; each back-end's constructor
takes its member, so the options' defaults and limits live here only.
The zones and rules a camera configures are in :mod:`gridwatch.camera_rules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class _ModelBackend(_Backend):
    model_path: Path | None = Field(
        default=None, description="Model file; default GRIDWATCH_MODEL_PATH or the back-end's own"
    )
    class_names: list[str] | None = Field(
        default=None, min_length=1, max_length=10_000, description="Class names in model order"
    )
    threads: int = Field(default=2, ge=1, le=64, description="Inference threads per call")


class _OnnxBackend(_ModelBackend):
    names_file: Path | None = Field(default=None, description="Class names, one a line")

    @model_validator(mode="after")
    def _one_name_source(self) -> _OnnxBackend:
        if self.class_names is not None and self.names_file is not None:
            raise ValueError("give class_names or names_file, not both")
        return self


class YoloxOnnxConfig(_OnnxBackend):
    """YOLOX raw-head ONNX models (YOLOX-Nano COCO by default)."""

    type: Literal["yolox_onnx"] = "yolox_onnx"
    conf: float = Field(default=0.3, ge=0, le=1, description="Lowest score kept")
    nms_iou: float = Field(default=0.45, gt=0, le=1, description="Overlap that suppresses a box")
    input_size: int = Field(
        default=416,
        ge=32,
        le=4096,
        multiple_of=32,
        description="Used where the model leaves it open",
    )


class _UltralyticsHead(BaseModel):
    conf: float = Field(default=0.25, ge=0, le=1, description="Lowest score kept")
    nms_iou: float = Field(default=0.7, gt=0, le=1, description="Overlap that suppresses a box")
    max_det: int = Field(default=300, ge=1, le=10_000, description="Boxes kept per frame at most")


class UltralyticsOnnxConfig(_OnnxBackend, _UltralyticsHead):
    """Ultralytics-exported ONNX models ([1, 4 + C, N], no objectness)."""

    type: Literal["ultralytics_onnx"] = "ultralytics_onnx"


class UltralyticsConfig(_ModelBackend, _UltralyticsHead):
    """A ``.pt`` model through the ultralytics package (optional extra ``ultralytics``)."""

    type: Literal["ultralytics"] = "ultralytics"
    input_size: int = Field(default=640, ge=32, le=4096, multiple_of=32)


class MotionConfig(_Backend):
    """OpenCV background subtraction: moving blobs as class ``motion``."""

    type: Literal["motion"] = "motion"
    scale_width: int = Field(default=320, ge=32, le=4096, description="Width it works at")
    history: int = Field(default=200, ge=1, le=100_000, description="Frames the background learns")
    var_threshold: float = Field(default=25.0, gt=0, le=10_000)
    min_area_frac: float = Field(default=0.0005, ge=0, lt=1, description="Smallest blob kept")


BackendConfig = Annotated[
    YoloxOnnxConfig | UltralyticsOnnxConfig | UltralyticsConfig | MotionConfig,
    Field(discriminator="type"),
]
