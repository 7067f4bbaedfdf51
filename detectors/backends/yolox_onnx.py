"""YOLOX back-end on ONNX Runtime: the default detector (YOLOX-Nano 416, COCO).

Any YOLOX ONNX export with the raw head works the same way: give its class list
(``class_names`` or a names file, one per line) and the decoder follows the
model's input size. The model's shapes are checked when the detector starts, so
a wrong file fails at once with a message naming the file and both shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.coco import COCO_CLASSES
from detectors.config import YoloxOnnxConfig
from detectors.types import Detections, ModelError

STRIDES = (8, 16, 32)
PAD_VALUE = 114


def letterbox(
    frame_bgr: npt.NDArray[np.uint8], size: tuple[int, int]
) -> tuple[npt.NDArray[np.float32], float]:
    """Resize keeping aspect, place at the top-left of a 114-grey canvas; (1x3xHxW, ratio)."""
    import cv2

    h, w = frame_bgr.shape[:2]
    th, tw = size
    ratio = min(th / h, tw / w)
    nh, nw = round(h * ratio), round(w * ratio)
    canvas = np.full((th, tw, 3), PAD_VALUE, np.uint8)
    resized = cv2.resize(frame_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas[:nh, :nw] = resized
    blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    return np.ascontiguousarray(blob), ratio


def anchor_count(size: tuple[int, int], strides: Sequence[int] = STRIDES) -> int:
    return sum((size[0] // s) * (size[1] // s) for s in strides)


def _grids(
    size: tuple[int, int], strides: Sequence[int]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    grids, expanded = [], []
    for s in strides:
        hs, ws = size[0] // s, size[1] // s
        xv, yv = np.meshgrid(np.arange(ws), np.arange(hs))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        expanded.append(np.full((hs * ws, 1), s))
    return (
        np.concatenate(grids).astype(np.float32),
        np.concatenate(expanded).astype(np.float32),
    )


def decode(
    raw: npt.NDArray[np.float32],
    grids: npt.NDArray[np.float32],
    strides: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """Raw head (N, 5+C) to (N, 5+C) with centre x, y, w, h in input pixels."""
    out = raw.copy()
    out[:, :2] = (raw[:, :2] + grids) * strides
    out[:, 2:4] = np.exp(raw[:, 2:4]) * strides
    return out


def postprocess(
    decoded: npt.NDArray[np.float32],
    ratio: float,
    frame_size: tuple[int, int],
    class_names: tuple[str, ...],
    conf: float,
    nms_iou: float,
) -> Detections:
    """Score = objectness x class probability, threshold, class-wise NMS, scale to the frame."""
    import cv2

    cls_scores = decoded[:, 5:] * decoded[:, 4:5]
    class_id = cls_scores.argmax(1)
    score = cls_scores[np.arange(len(cls_scores)), class_id]
    keep = score >= conf
    if not keep.any():
        return Detections.empty(class_names)
    cxcywh, score, class_id = decoded[keep, :4] / ratio, score[keep], class_id[keep]
    xywh = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, 2:]], 1)
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), score.tolist(), class_id.tolist(), conf, nms_iou)
    idx = np.asarray(kept, dtype=np.int64).reshape(-1)
    h, w = frame_size
    xyxy = np.concatenate([xywh[idx, :2], xywh[idx, :2] + xywh[idx, 2:]], 1)
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    order = np.argsort(-score[idx], kind="stable")
    return Detections(
        xyxy[order].astype(np.float32),
        score[idx][order].astype(np.float32),
        class_id[idx][order].astype(np.int32),
        class_names,
    )


def read_names(path: Path | str) -> tuple[str, ...]:
    """A class list file: one name per line, blank lines and ``#`` comments skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelError(f"class names file {path} cannot be read: {exc}") from exc
    return tuple(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))


def image_input_shape(
    session: Any, path: Path, outputs_ok: bool, outputs_wanted: str, colour: str
) -> list[Any]:
    """The shape of an ONNX model's one image input, ``[1, 3, H, W]`` (H and W may be open).

    ModelError when the model has not one input, ``outputs_ok`` is false, or the input
    is not a 3-channel image.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs_ok:
        raise ModelError(
            f"model {path} has {len(inputs)} inputs and {len(outputs)} outputs; "
            f"expected 1 image input and {outputs_wanted}"
        )
    shape = list(inputs[0].shape)
    if len(shape) != 4 or _dim(shape[1]) != 3:
        raise ModelError(
            f"model {path} has input shape {shape}, expected [1, 3, H, W] ({colour} image)"
        )
    return shape


def load_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session of ``threads`` intra-op threads; ModelError if unloadable."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own, undocumented exception types
        raise ModelError(f"model file {path} is not a loadable ONNX model: {exc}") from exc


def _dim(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class YoloxOnnx:
    """YOLOX raw-head ONNX model on ONNX Runtime's CPU provider; thread-safe ``detect``."""

    def __init__(self, cfg: YoloxOnnxConfig | None = None) -> None:
        cfg = cfg or YoloxOnnxConfig()
        model_path, class_names, names_file = cfg.model_path, cfg.class_names, cfg.names_file
        path = Path(model_path) if model_path is not None else _default_model()
        if names_file is not None:
            names = read_names(names_file)
        else:
            names = tuple(class_names) if class_names is not None else COCO_CLASSES
        if not names:
            raise ModelError(f"class list for {path} is empty")
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")

        self._session = load_session(path, cfg.threads)
        self.path = path
        self.class_names: tuple[str, ...] = names
        self.conf, self.nms_iou = cfg.conf, cfg.nms_iou
        self.input_size = self._check_shapes(cfg.input_size)
        self._input_name = self._session.get_inputs()[0].name
        self._grids, self._strides = _grids(self.input_size, STRIDES)

    def _check_shapes(self, fallback: int) -> tuple[int, int]:
        outputs = self._session.get_outputs()
        ishape = image_input_shape(
            self._session, self.path, len(outputs) >= 1, "the YOLOX head output", "BGR"
        )
        size = (_dim(ishape[2]) or fallback, _dim(ishape[3]) or fallback)
        if size[0] % 32 or size[1] % 32:
            raise ModelError(
                f"model {self.path} has input size {size[0]}x{size[1]}, expected multiples of 32"
            )
        oshape = list(outputs[0].shape)
        want_n, want_c = anchor_count(size), 5 + len(self.class_names)
        expected = f"[1, {want_n}, {want_c}] (anchors for strides 8/16/32, 5 + classes)"
        if len(oshape) != 3:
            raise ModelError(f"model {self.path} has output shape {oshape}, expected {expected}")
        n, c = _dim(oshape[1]), _dim(oshape[2])
        if n is not None and n != want_n:
            raise ModelError(f"model {self.path} has output shape {oshape}, expected {expected}")
        if c is not None and c != want_c:
            raise ModelError(
                f"model {self.path} has output shape {oshape} ({c - 5} classes), but the class "
                f"list has {len(self.class_names)} names: expected {expected}"
            )
        return size

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> Detections:
        blob, ratio = letterbox(frame_bgr, self.input_size)
        raw = self._session.run(None, {self._input_name: blob})[0]
        raw = np.asarray(raw, dtype=np.float32)[0]
        if raw.shape != (len(self._grids), 5 + len(self.class_names)):
            raise ModelError(
                f"model {self.path} returned shape {raw.shape}, expected "
                f"({len(self._grids)}, {5 + len(self.class_names)})"
            )
        decoded = decode(raw, self._grids, self._strides)
        h, w = frame_bgr.shape[:2]
        return postprocess(decoded, ratio, (h, w), self.class_names, self.conf, self.nms_iou)


def _default_model() -> Path:
    from gridwatch.assets import AssetError, asset_path
    from gridwatch.settings import get_settings

    configured = get_settings().model_path
    if configured is not None:
        return Path(configured)
    try:
        return asset_path("yolox_nano.onnx")
    except AssetError as exc:
        raise ModelError(str(exc)) from exc
