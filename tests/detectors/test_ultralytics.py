"""ultralytics back-ends: a ``.pt`` through ultralytics and its ONNX export through our
decoder agree on real frames; bad files and class lists fail at start-up; nothing
imports ultralytics until that back-end is chosen."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from detectors.backends import BACKENDS, create_detector
from detectors.backends.ultralytics_onnx import UltralyticsOnnx, letterbox_center
from detectors.coco import COCO_CLASSES
from detectors.config import UltralyticsOnnxConfig
from detectors.types import ModelError
from gridwatch import assets

ROOT = Path(__file__).resolve().parents[2]
FRAMES = (0, 100, 200, 300, 400, 500, 600, 700)

needs_ultralytics = pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None or importlib.util.find_spec("torch") is None,
    reason="ultralytics extra not installed: pip install -e '.[ultralytics]' "
    "(torch==2.14.1 torchvision==0.29.1 on this machine)",
)


def _onnx_model(path: Path, out_shape: list[int], meta: dict[str, str] | None = None) -> Path:
    """A tiny ONNX file with an image input and a constant output of ``out_shape``."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    const = helper.make_node(
        "ConstantOfShape",
        ["shape"],
        ["output0"],
        value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]),
    )
    shape = helper.make_tensor("shape", TensorProto.INT64, [len(out_shape)], out_shape)
    graph = helper.make_graph(
        [const],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        initializer=[shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (meta or {}).items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------- no side effects


def test_backends_are_registered_by_name_and_import_nothing_heavy() -> None:
    assert {"yolox_onnx", "ultralytics_onnx", "ultralytics", "motion"} <= set(BACKENDS)
    code = (
        "import sys, detectors, detectors.backends, detectors.backends.ultralytics_pt, "
        "detectors.backends.ultralytics_onnx, detectors.engine, detectors.eval\n"
        "print(sorted(m for m in ('ultralytics', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- start-up checks


def test_onnx_output_width_must_match_the_class_list(tmp_path: Path) -> None:
    path = _onnx_model(tmp_path / "six.onnx", [1, 10, 8400])
    with pytest.raises(ModelError, match=r"6 classes.*80 names"):
        create_detector("ultralytics_onnx", model_path=path, class_names=COCO_CLASSES)
    names = tmp_path / "six.txt"
    names.write_text("# six classes\nfire\nsmoke\nperson\ncar\ntruck\nbus\n", encoding="utf-8")
    det = create_detector("ultralytics_onnx", model_path=path, names_file=names)
    assert det.class_names == ("fire", "smoke", "person", "car", "truck", "bus")
    assert len(det.detect(np.zeros((576, 768, 3), np.uint8))) == 0


def test_onnx_class_list_must_match_the_exports_own_names(tmp_path: Path) -> None:
    meta = {"names": "{0: 'fire', 1: 'smoke'}", "stride": "32", "imgsz": "[640, 640]"}
    path = _onnx_model(tmp_path / "two.onnx", [1, 6, 8400], meta)
    assert create_detector("ultralytics_onnx", model_path=path).class_names == ("fire", "smoke")
    with pytest.raises(ModelError, match=r"does not match.*index 0: 'smoke' vs 'fire'"):
        create_detector("ultralytics_onnx", model_path=path, class_names=["smoke", "fire"])


@pytest.mark.parametrize(
    ("out_shape", "meta", "message"),
    [
        ([1, 84, 100], {}, r"output shape \[1, 84, 100\], expected \[1, 84, 8400\]"),
        ([1, 84], {}, r"output shape \[1, 84\]"),
        ([1, 84, 8400], {"end2end": "True"}, "end-to-end"),
        ([1, 84, 8400], {"names": "['a', 'b'"}, "not a class list"),
        ([1, 84, 8400], {}, None),
    ],
)
def test_onnx_shapes_are_checked_at_start_up(
    tmp_path: Path, out_shape: list[int], meta: dict[str, str], message: str | None
) -> None:
    path = _onnx_model(tmp_path / "m.onnx", out_shape, meta)
    if message is None:
        det = create_detector("ultralytics_onnx", model_path=path, class_names=COCO_CLASSES)
        assert det.class_names == COCO_CLASSES
    else:
        with pytest.raises(ModelError, match=message):
            create_detector("ultralytics_onnx", model_path=path, class_names=COCO_CLASSES)


def test_a_yolox_model_is_refused_with_a_pointer_to_the_right_backend() -> None:
    with pytest.raises(ModelError, match="YOLOX head"):
        create_detector(
            "ultralytics_onnx", model_path=assets.fetch("yolox_nano.onnx"), class_names=COCO_CLASSES
        )
    with pytest.raises(ModelError, match="carries no class names"):
        create_detector("ultralytics_onnx", model_path=assets.fetch("yolox_nano.onnx"))


def test_bad_model_files_fail_at_start_up(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        create_detector("ultralytics_onnx", model_path=junk, class_names=["a"])
    with pytest.raises(ModelError, match="does not exist"):
        create_detector("ultralytics", model_path=tmp_path / "missing.pt")
    # Refused before ultralytics is imported: the extra is not needed to get this message.
    with pytest.raises(ModelError, match=r"not a \.pt file"):
        create_detector("ultralytics", model_path=junk)


def test_a_model_path_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDWATCH_MODEL_PATH", raising=False)
    for name in ("ultralytics", "ultralytics_onnx"):
        with pytest.raises(ModelError, match="GRIDWATCH_MODEL_PATH"):
            create_detector(name)


# --------------------------------------------------------------------------- parity


@pytest.fixture(scope="module")
def frames() -> list[npt.NDArray[np.uint8]]:
    import cv2

    cap = cv2.VideoCapture(str(assets.fetch("vtest.avi")))
    out = []
    try:
        for i in FRAMES:
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, frame = cap.read()
            assert ok, f"vtest frame {i}"
            out.append(np.asarray(frame, np.uint8))
    finally:
        cap.release()
    return out


@pytest.fixture(scope="module")
def pt_side(
    frames: list[npt.NDArray[np.uint8]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The ``.pt`` side, run in a subprocess so ultralytics and torch stay out of pytest."""
    out = tmp_path_factory.mktemp("ultralytics")
    arrays: dict[str, Any] = {f"f{i:03d}": f for i, f in enumerate(frames)}
    np.savez(out / "frames.npz", **arrays)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(
        YOLO_OFFLINE="1",
        YOLO_AUTOINSTALL="False",
        YOLO_CONFIG_DIR=str(out / "yolo-config"),
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("ultralytics_worker.py")),
            str(out),
            str(out / "frames.npz"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=out,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(out / "pt_side.npz") as z:
        info.update({k: z[k] for k in z.files})
    return info


def _iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return np.asarray(inter / (area_a[:, None] + area_b[None] - inter + 1e-9), np.float64)


def _matched(
    a: npt.NDArray[np.float32],
    ca: npt.NDArray[np.int32],
    b: npt.NDArray[np.float32],
    cb: npt.NDArray[np.int32],
) -> int:
    """One-to-one matches at IoU >= 0.9 with the same class, greedy by IoU."""
    if not len(a) or not len(b):
        return 0
    iou = _iou(a, b) * (ca[:, None] == cb[None, :])
    used_a, used_b, n = set(), set(), 0
    for flat in np.argsort(-iou, axis=None):
        i, j = divmod(int(flat), len(b))
        if iou[i, j] < 0.9:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            n += 1
    return n


@pytest.mark.slow
@needs_ultralytics
def test_pt_and_its_onnx_export_agree_on_vtest_frames(
    frames: list[npt.NDArray[np.uint8]], pt_side: dict[str, Any]
) -> None:
    det = UltralyticsOnnx(UltralyticsOnnxConfig(model_path=pt_side["onnx"], conf=pt_side["conf"]))
    assert list(det.class_names) == pt_side["names"]
    # Both give the edge a fixed square input, so motion crops can share one canvas.
    assert list(det.input_size) == pt_side["input_size"] == [640, 640]

    # Raw output tensors on the same letterboxed input: the network itself agrees. Class
    # scores to 1e-3 (about 5e-7 here); box coordinates, in input pixels up to about 660,
    # to 0.02 px: float32 rounding at that size is a few thousandths of a pixel.
    worst_score = worst_box = 0.0
    for frame, raw_pt in zip(frames, pt_side["raw"], strict=True):
        blob, _, _ = letterbox_center(frame, det.input_size)
        diff = np.abs(det.raw(blob) - raw_pt)
        worst_box = max(worst_box, float(diff[:4].max()))
        worst_score = max(worst_score, float(diff[4:].max()))
    assert worst_score < 1e-3
    assert worst_box < 0.02
    # The network must respond to its input, or agreement would prove nothing.
    assert float(np.abs(pt_side["raw"][0] - pt_side["raw"][3]).max()) > 1.0

    # Boxes after each side's own pre- and post-processing (ultralytics' predict vs ours).
    matched = total = 0
    at = 0
    for frame, n in zip(frames, pt_side["counts"], strict=True):
        ours = det.detect(frame)
        theirs_xyxy, theirs_cls = pt_side["xyxy"][at : at + n], pt_side["cls"][at : at + n]
        at += n
        matched += _matched(ours.xyxy, ours.class_id, theirs_xyxy, theirs_cls)
        total += max(len(ours), int(n))
    assert matched >= 50
    assert matched >= 0.95 * total


@pytest.mark.slow
@needs_ultralytics
def test_pt_backend_checks_class_list_and_keeps_thread_settings(pt_side: dict[str, Any]) -> None:
    assert "does not match the model's own" in pt_side["class_mismatch_error"]
    assert pt_side["side_effects_kept"] == {"omp": True, "cv2_threads": True}
