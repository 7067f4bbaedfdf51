"""Ultralytics-exported ONNX models (YOLOv8, YOLO11 and kin) on ONNX Runtime.

``yolo export format=onnx`` writes a model whose single output is [1, 4 + C, N]:
per anchor a box (centre x, y, width, height in input pixels) and C class
scores, already decoded and with no objectness. Input is RGB in 0..1,
letterboxed into the middle of a 114-grey square, as ultralytics' own
``predict`` does; post-processing follows ultralytics too (best class per box,
class-wise NMS, at most ``max_det`` boxes), so this back-end and the
``ultralytics`` one give the same boxes for a ``.pt`` and its export.

The class list comes from the export's metadata (``names``) unless one is given;
a given list must agree with the metadata and with the output's width. Every
check runs at start-up and names the file and both values.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import numpy.typing as npt

from detectors.backends.yolox_onnx import (
    _dim,
    anchor_count,
    image_input_shape,
    load_session,
    read_names,
)
from detectors.config import UltralyticsOnnxConfig
from detectors.types import Detections, ModelError

PAD_VALUE = 114
DEFAULT_SIZE = 640


def letterbox_center(
    frame_bgr: npt.NDArray[np.uint8], size: tuple[int, int]
) -> tuple[npt.NDArray[np.float32], tuple[float, float], tuple[int, int]]:
    """Ultralytics' LetterBox: keep aspect, centre on grey, RGB 0..1.

    Returns the 1x3xHxW blob, the (x, y) scale and the (left, top) padding.
    """
    import cv2

    h, w = frame_bgr.shape[:2]
    th, tw = size
    r = min(th / h, tw / w)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (tw - nw) / 2, (th - nh) / 2
    # The same rounding as ultralytics, so both back-ends see identical pixels.
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img: npt.NDArray[np.uint8] = frame_bgr
    if (w, h) != (nw, nh):
        img = np.asarray(cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR), np.uint8)
    img = np.asarray(
        cv2.copyMakeBorder(
            img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
        ),
        np.uint8,
    )
    blob = img[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), (nw / w, nh / h), (left, top)


def postprocess(
    raw: npt.NDArray[np.float32],
    scale: tuple[float, float],
    pad: tuple[int, int],
    frame_size: tuple[int, int],
    class_names: tuple[str, ...],
    conf: float,
    nms_iou: float,
    max_det: int = 300,
) -> Detections:
    """Output (4 + C, N) to detections in frame pixels: best class, threshold, NMS, scale."""
    import cv2

    scores = raw[4:]
    class_id = scores.argmax(0)
    score = scores[class_id, np.arange(scores.shape[1])]
    keep = score > conf
    if not keep.any():
        return Detections.empty(class_names)
    cxcywh, score, class_id = raw[:4, keep].T, score[keep], class_id[keep]
    xywh = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, 2:]], 1)
    # NMS over every candidate, then the best max_det: OpenCV's top_k would cut before NMS.
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), score.tolist(), class_id.tolist(), conf, nms_iou)
    idx = np.asarray(kept, dtype=np.int64).reshape(-1)
    idx = idx[np.argsort(-score[idx], kind="stable")][:max_det]
    xyxy = np.concatenate([xywh[idx, :2], xywh[idx, :2] + xywh[idx, 2:]], 1)
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - pad[0]) / scale[0]
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - pad[1]) / scale[1]
    h, w = frame_size
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    return Detections(
        xyxy.astype(np.float32),
        score[idx].astype(np.float32),
        class_id[idx].astype(np.int32),
        class_names,
    )


def metadata_names(meta: dict[str, str]) -> tuple[str, ...] | None:
    """Class names from an ultralytics export's metadata (a Python dict literal)."""
    text = meta.get("names")
    if text is None:
        return None
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ModelError(f"metadata 'names' is not a class list: {text[:80]!r}") from exc
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise ModelError(f"metadata 'names' keys are not 0..{len(names) - 1}")
        return tuple(str(names[i]) for i in range(len(names)))
    if isinstance(names, list | tuple):
        return tuple(str(n) for n in names)
    raise ModelError(f"metadata 'names' is a {type(names).__name__}, not a class list")


def check_class_list(
    given: tuple[str, ...] | None, embedded: tuple[str, ...] | None, path: Path
) -> tuple[str, ...]:
    """The class list to use: the given one if it agrees with the model's own, else an error."""
    if given is not None and embedded is not None and given != embedded:
        diff = next(
            (i for i, (a, b) in enumerate(zip(given, embedded, strict=False)) if a != b),
            min(len(given), len(embedded)),
        )
        raise ModelError(
            f"class list for {path} ({len(given)} names) does not match the model's own "
            f"({len(embedded)} names); first difference at index {diff}: "
            f"{given[diff] if diff < len(given) else None!r} vs "
            f"{embedded[diff] if diff < len(embedded) else None!r}"
        )
    names = given if given is not None else embedded
    if not names:
        raise ModelError(f"model {path} carries no class names: give class_names or names_file")
    return names


class UltralyticsOnnx:
    """An ultralytics ONNX export ([1, 4 + C, N] output) on ONNX Runtime's CPU provider."""

    def __init__(self, cfg: UltralyticsOnnxConfig | None = None) -> None:
        cfg = cfg or UltralyticsOnnxConfig()
        model_path, class_names, names_file = cfg.model_path, cfg.class_names, cfg.names_file
        path = Path(model_path) if model_path is not None else configured_model("ultralytics_onnx")
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        self._session = load_session(path, cfg.threads)
        meta = dict(self._session.get_modelmeta().custom_metadata_map)
        if meta.get("end2end") == "True":
            raise ModelError(
                f"model {path} is an end-to-end (NMS-free) export; export it with "
                "nms=False and end2end=False for the raw [1, 4 + C, N] output"
            )
        given: tuple[str, ...] | None = None
        if names_file is not None:
            given = read_names(names_file)
        elif class_names is not None:
            given = tuple(class_names)
        self.path = path
        self.class_names: tuple[str, ...] = check_class_list(given, metadata_names(meta), path)
        self.conf, self.nms_iou, self.max_det = cfg.conf, cfg.nms_iou, cfg.max_det
        self.input_size = self._check_shapes(meta)
        self._input_name = self._session.get_inputs()[0].name

    def _check_shapes(self, meta: dict[str, str]) -> tuple[int, int]:
        outputs = self._session.get_outputs()
        ishape = image_input_shape(
            self._session,
            self.path,
            len(outputs) == 1,
            "1 detection output (a detect-task export)",
            "RGB",
        )
        fallback = _meta_size(meta)
        size = (_dim(ishape[2]) or fallback[0], _dim(ishape[3]) or fallback[1])
        stride = int(meta.get("stride", "32"))
        strides = tuple(s for s in (8, 16, 32, 64) if s <= stride)
        if size[0] % stride or size[1] % stride:
            raise ModelError(
                f"model {self.path} has input size {size[0]}x{size[1]}, "
                f"expected multiples of its stride {stride}"
            )
        oshape = list(outputs[0].shape)
        want_c, want_n = 4 + len(self.class_names), anchor_count(size, strides)
        expected = f"[1, {want_c}, {want_n}] (4 box values + {len(self.class_names)} classes)"
        if len(oshape) != 3:
            raise ModelError(f"model {self.path} has output shape {oshape}, expected {expected}")
        c, n = _dim(oshape[1]), _dim(oshape[2])
        if c is not None and n is not None and c > n:
            raise ModelError(
                f"model {self.path} has output shape {oshape}, expected {expected}: "
                "anchors-first looks like a YOLOX head (use the yolox_onnx back-end)"
            )
        if c is not None and c != want_c:
            raise ModelError(
                f"model {self.path} has output shape {oshape} ({c - 4} classes), but the class "
                f"list has {len(self.class_names)} names: expected {expected}"
            )
        if n is not None and n != want_n:
            raise ModelError(f"model {self.path} has output shape {oshape}, expected {expected}")
        return size

    def raw(self, blob: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The model's output (4 + C, N) for a letterboxed blob; for parity checks."""
        out = self._session.run(None, {self._input_name: blob})[0]
        first: npt.NDArray[np.float32] = np.asarray(out, dtype=np.float32)[0]
        return first

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> Detections:
        blob, scale, pad = letterbox_center(frame_bgr, self.input_size)
        raw = self.raw(blob)
        if raw.shape[0] != 4 + len(self.class_names):
            raise ModelError(
                f"model {self.path} returned shape {raw.shape}, expected "
                f"({4 + len(self.class_names)}, N)"
            )
        h, w = frame_bgr.shape[:2]
        return postprocess(
            raw, scale, pad, (h, w), self.class_names, self.conf, self.nms_iou, self.max_det
        )


def _meta_size(meta: dict[str, str]) -> tuple[int, int]:
    try:
        value = ast.literal_eval(meta.get("imgsz", str(DEFAULT_SIZE)))
    except (ValueError, SyntaxError):
        return (DEFAULT_SIZE, DEFAULT_SIZE)
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, list | tuple) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    return (DEFAULT_SIZE, DEFAULT_SIZE)


def configured_model(backend: str, what: str = "a model file") -> Path:
    """GRIDWATCH_MODEL_PATH, read now; ModelError naming ``backend`` when it is not set."""
    from gridwatch.settings import get_settings

    configured = get_settings().model_path
    if configured is None:
        raise ModelError(
            f"the {backend} back-end needs {what}: pass model_path or set GRIDWATCH_MODEL_PATH"
        )
    return Path(configured)
