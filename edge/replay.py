"""The edge's own path over a recorded clip, for ``gridwatch eval --path edge``.

A camera on the edge does not see every frame at full size: its loop takes the
newest frame at the camera's detect rate (``edge.camera.next_due``), the motion
gate (``edge.gating``) hands on only the crops where something moved (plus where
objects were, and the whole frame every ``full_every_s``), and the box's mosaic
(``edge.mosaic``) packs those crops onto the model's canvas. ``play_edge`` runs
exactly those parts over a clip, with the clip's own time as the gate's clock, so
the rules can be scored on what the edge would have detected. Detections are
cached like the full-frame path's (``detectors.eval``), keyed by clip, model, rate
and gate settings.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.eval import (
    CACHE_CONF,
    EvalError,
    digest,
    load_detections,
    read_frames,
    save_detections,
)
from detectors.types import Detections, Detector
from edge.gating import GateConfig, GatedDetector
from edge.mosaic import MosaicDetector


def slots(clip_fps: float, detect_fps: float) -> Iterator[int]:
    """The clip frames a camera loop at ``detect_fps`` takes, without end: at each detect
    slot, the newest frame decoded by then (each frame at most once)."""
    last = -1
    for k in itertools.count():
        i = math.floor(k / detect_fps * clip_fps + 1e-9)
        if i != last:
            yield i
            last = i


def scheduled(frames: int, clip_fps: float, detect_fps: float) -> list[int]:
    """The first ``frames`` frames' share of :func:`slots`."""
    return list(itertools.takewhile(lambda i: i < frames, slots(clip_fps, detect_fps)))


@dataclass(frozen=True)
class EdgeStats:
    """What the detector did: frames it saw any crop of, and pixels against full frames."""

    played: int
    detector_frames: int
    pixels: int
    full_pixels: int

    @property
    def detector_frame_share(self) -> float:
        return self.detector_frames / self.played if self.played else 0.0

    @property
    def pixel_share(self) -> float:
        return self.pixels / self.full_pixels if self.full_pixels else 0.0


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def play_edge(
    frames: Iterable[npt.NDArray[np.uint8]],
    clip_fps: float,
    detect_fps: float,
    detector: Detector,
    total: int,
    gate: GateConfig | None = None,
) -> tuple[list[int], list[Detections], EdgeStats]:
    """Detections of the frames the edge takes, in order, and what the detector did."""
    # Lazily: ``total`` may be a bound far above the clip's length (a list of every
    # slot up to 10**9 frames took 23 GB).
    due = slots(clip_fps, detect_fps)
    want = next(due)
    picked: list[int] = []
    mosaic = MosaicDetector(detector, workers=1, linger_s=0.0)
    clock = _Clock()
    gated = GatedDetector(mosaic, gate or GateConfig(), clock=clock)
    dets: list[Detections] = []
    ran = full = 0
    try:
        for i, frame in enumerate(frames):
            if i >= total:
                break
            if i != want:
                continue
            picked.append(i)
            want = next(due)
            clock.now = i / clip_fps
            calls = gated.calls
            dets.append(gated.detect(np.asarray(frame, np.uint8)))
            ran += gated.calls > calls
            full += frame.shape[0] * frame.shape[1]
    finally:
        mosaic.close()
    return picked, dets, EdgeStats(len(dets), ran, gated.pixels, full)


def edge_detections(
    clip: Path,
    clip_fps: float,
    detect_fps: float,
    cache_dir: Path | None,
    detector_name: str = "yolox_onnx",
    model_path: Path | None = None,
) -> tuple[list[int], list[Detections], EdgeStats]:
    """``play_edge`` over a clip file, reusing a cache when there is one."""
    from detectors.backends import create_detector

    opts: dict[str, Any] = {"conf": CACHE_CONF}
    if model_path is not None:
        opts["model_path"] = model_path
    detector: Any = create_detector(detector_name, **opts)
    model = getattr(detector, "path", None)
    gate = GateConfig()
    key = "-".join(
        [
            digest(clip),
            digest(Path(model)) if model else detector_name,
            f"{detect_fps:g}fps",
            digest_text(json.dumps(asdict(gate), sort_keys=True)),
        ]
    )
    stem = cache_dir / f"edge-{clip.stem}-{detector_name}-{key}" if cache_dir else None
    if stem is not None and stem.with_suffix(".json").is_file():
        meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        return meta["frames"], load_detections(stem.with_suffix(".npz")), EdgeStats(**meta["stats"])
    total = 10**9  # the clip's own end stops the play
    picked, dets, stats = play_edge(read_frames(clip), clip_fps, detect_fps, detector, total, gate)
    if not dets:
        raise EvalError(f"clip {clip} has no frames")
    if stem is not None:
        stem.parent.mkdir(parents=True, exist_ok=True)
        save_detections(stem.with_suffix(".npz"), dets)
        meta = {"frames": picked, "stats": asdict(stats)}
        stem.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return picked, dets, stats


def digest_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
