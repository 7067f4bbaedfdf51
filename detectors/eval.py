"""Score rules against hand-labelled time intervals (``gridwatch eval``).

A detected interval matches a labelled one when their temporal IoU is at least
0.5; matching is one to one, greedy from the highest IoU. Precision and recall
are summed per rule type over every task of a label file. The detector runs
over the clip once and its detections are cached per frame (keyed by the clip's
and the model's bytes), so re-scoring after a rule change takes seconds.

Rules run with their production defaults: a label file names the zone and what
defines the situation (classes, ``per``, ``min_count``), never timing thresholds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.engine import build_camera_rules
from detectors.types import Detections, DetectorError
from gridwatch.camera_rules import CameraRulesConfig, RuleConfig, ZoneConfig
from gridwatch.configfile import check_file

T = TypeVar("T")

MIN_IOU = 0.5
#: A line crossing is an instant: labelled and detected crossings are both widened to a
#: window this long, centred on them, so one found within a third of it matches.
LINE_WINDOW_S = 2.0
T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
LABEL_DIR = Path(__file__).resolve().parent.parent / "config" / "labels"
DEFAULT_LABELS = LABEL_DIR / "vtest.yaml"
#: Detections below this confidence are not cached; the rules' own floors are higher.
CACHE_CONF = 0.1


class EvalError(DetectorError):
    """A label file or clip that cannot be evaluated; the message says which and why."""


@dataclass(frozen=True)
class Interval:
    start: float
    end: float

    @property
    def length(self) -> float:
        return max(0.0, self.end - self.start)


def widen(intervals: Sequence[Interval], window: float) -> list[Interval]:
    """Each interval replaced by a ``window`` long one around its centre."""
    return [
        Interval((i.start + i.end) / 2 - window / 2, (i.start + i.end) / 2 + window / 2)
        for i in intervals
    ]


def temporal_iou(a: Interval, b: Interval) -> float:
    inter = max(0.0, min(a.end, b.end) - max(a.start, b.start))
    union = a.length + b.length - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def count_matches(
    found: Sequence[T], truth: Sequence[T], iou: Callable[[T, T], float], min_iou: float
) -> int:
    """How many one-to-one pairs greedy matching makes, from the highest IoU down to
    ``min_iou``: intervals here, boxes in the detector tests."""
    pairs = sorted(
        ((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)),
        reverse=True,
    )
    used_f: set[int] = set()
    used_t: set[int] = set()
    for value, i, j in pairs:
        if value < min_iou:
            break
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return len(used_f)


def match(
    detected: Sequence[Interval], labelled: Sequence[Interval], min_iou: float = MIN_IOU
) -> Score:
    """One-to-one matching, greedy by IoU: each pair at ``min_iou`` or more is a hit."""
    tp = count_matches(detected, labelled, temporal_iou, min_iou)
    return Score(tp, len(detected) - tp, len(labelled) - tp)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(_Model):
    name: str = Field(min_length=1, max_length=64)
    rule: RuleConfig
    segments: int = Field(1, ge=1, le=100, description="Cuts of the clip, each a fresh stream")
    intervals: list[tuple[int, int]] = Field(description="[first, last] frame, both included")


class LabelFile(_Model):
    clip: str
    fps: float = Field(gt=0, le=240)
    frames: int = Field(gt=0)
    zones: list[ZoneConfig]
    tasks: list[Task] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> LabelFile:
        names = {z.name for z in self.zones}
        for t in self.tasks:
            if t.rule.zone is not None and t.rule.zone not in names:
                raise ValueError(f"task {t.name!r}: zone {t.rule.zone!r} is not one of {names}")
            for a, b in t.intervals:
                if not 0 <= a <= b < self.frames:
                    raise ValueError(
                        f"task {t.name!r}: interval {[a, b]} is outside frames 0..{self.frames - 1}"
                    )
        return self


def load_labels(path: Path) -> LabelFile:
    """Read a label file; EvalError listing every problem, as ``gridwatch config check`` does."""
    problems, labels = check_file(path, LabelFile)
    if labels is None:
        lines = "\n".join(f"  {p}" for p in problems)
        raise EvalError(f"label file {path} is not valid:\n{lines}")
    return labels


def _segments(frames: int, n: int) -> list[tuple[int, int]]:
    edges = [round(k * frames / n) for k in range(n + 1)]
    return [(edges[k], edges[k + 1]) for k in range(n)]


def default_label_files() -> list[Path]:
    """Every label file shipped in ``config/labels`` (what ``gridwatch eval`` scores)."""
    return sorted(LABEL_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class Played:
    """Which frames of the clip reached the rules, and at what rate: every frame at the
    clip's rate (the full-frame path), or the edge's picks at its detect rate."""

    frames: tuple[int, ...] | None = None
    rate: float | None = None
    #: Frames of the clip the picks were taken from.
    total: int = 0


def run_task(
    task: Task,
    zones: Sequence[ZoneConfig],
    dets: Sequence[Detections],
    fps: float,
    played: Played | None = None,
) -> tuple[list[Interval], list[Interval]]:
    """Play detections through the task's rule; (detected, labelled) in seconds.

    ``dets`` holds one entry per clip frame, or, with ``played.frames``, one per frame
    played (the frames the edge took, at ``played.rate``)."""
    played = played or Played()
    picked = played.frames if played.frames is not None else tuple(range(len(dets)))
    if len(picked) != len(dets):
        raise EvalError(f"{len(dets)} detections for {len(picked)} played frames")
    rate = played.rate or fps
    frames = len(dets) if played.frames is None else played.total
    detected: list[Interval] = []
    labelled: list[Interval] = []
    used = [z for z in zones if z.name == task.rule.zone]
    for a, b in _segments(frames, task.segments):
        cfg = CameraRulesConfig(zones=used, rules=[task.rule], frame_rate=rate)
        engine = build_camera_rules(cfg, ZoneInfo("Asia/Shanghai"))
        hits = []
        for i, d in zip(picked, dets, strict=True):
            if a <= i < b:
                hits += engine.step(T0 + timedelta(seconds=i / fps), None, d)
        hits += engine.flush(T0 + timedelta(seconds=b / fps))
        for h in hits:
            if h.phase == "end" and h.start is not None and h.end is not None:
                # A hit's end is the last frame the situation was seen: it covers that
                # frame's period.
                start = (h.start - T0).total_seconds()
                end = (h.end - T0).total_seconds() + 1 / rate
                detected.append(Interval(start, min(end, b / fps)))
        for s, e in task.intervals:
            lo, hi = max(s, a), min(e + 1, b)
            if hi > lo:
                labelled.append(Interval(lo / fps, hi / fps))
    return detected, labelled


@dataclass(frozen=True)
class TaskResult:
    name: str
    rule: str
    detected: list[Interval]
    labelled: list[Interval]
    score: Score


def evaluate_tasks(
    labels: LabelFile, dets: Sequence[Detections], played: Played | None = None
) -> list[TaskResult]:
    """Every task of a label file, with its detected and labelled intervals."""
    total = len(dets) if played is None or played.frames is None else played.total
    if total < labels.frames:
        raise EvalError(f"clip has {total} frames, labels expect {labels.frames}")
    if played is None or played.frames is None:
        dets = dets[: labels.frames]
    else:
        keep = [k for k, i in enumerate(played.frames) if i < labels.frames]
        dets = [dets[k] for k in keep]
        played = Played(tuple(played.frames[k] for k in keep), played.rate, labels.frames)
    out = []
    for task in labels.tasks:
        detected, labelled = run_task(task, labels.zones, dets, labels.fps, played)
        if task.rule.type == "line":
            detected, labelled = widen(detected, LINE_WINDOW_S), widen(labelled, LINE_WINDOW_S)
        score = match(detected, labelled)
        out.append(TaskResult(task.name, task.rule.type, detected, labelled, score))
    return out


def evaluate(
    labels: LabelFile, dets: Sequence[Detections], played: Played | None = None
) -> tuple[dict[str, Score], dict[str, Score]]:
    """Scores per rule type and per task."""
    per_task: dict[str, Score] = {}
    per_rule: dict[str, Score] = {}
    for r in evaluate_tasks(labels, dets, played):
        per_task[r.name] = r.score
        per_rule[r.rule] = per_rule.get(r.rule, Score(0, 0, 0)) + r.score
    return per_rule, per_task


def footage_hours(labels: Sequence[LabelFile]) -> float:
    """Hours of footage scored: each clip once, however many label files cover it (one
    clip is one camera, whatever its tasks)."""
    seconds = {lf.clip: lf.frames / lf.fps for lf in labels}
    return sum(seconds.values()) / 3600.0


def summary(per_rule: dict[str, Score], hours: float | None = None) -> dict[str, Any]:
    """The ``gridwatch eval --json`` object; with ``hours``, false alarms per camera-hour
    (detected intervals that match no label, per hour of footage)."""
    rules: dict[str, Any] = {}
    for rule, s in per_rule.items():
        rules[rule] = {"precision": round(s.precision, 4), "recall": round(s.recall, 4)}
        if hours:
            rules[rule] |= {"false_alarms": s.fp, "false_alarms_per_hour": round(s.fp / hours, 2)}
    return {"rules": rules}


# --- detections over a clip, cached ---------------------------------------------------


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def save_detections(path: Path, dets: Sequence[Detections]) -> None:
    counts = np.array([len(d) for d in dets], np.int32)
    names = dets[0].class_names if dets else ()
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        counts=counts,
        xyxy=np.concatenate([d.xyxy for d in dets]) if dets else np.zeros((0, 4), np.float32),
        confidence=np.concatenate([d.confidence for d in dets]) if dets else np.zeros(0),
        class_id=np.concatenate([d.class_id for d in dets]) if dets else np.zeros(0, np.int32),
        class_names=np.array(names),
    )
    tmp.replace(path)


def load_detections(path: Path) -> list[Detections]:
    with np.load(path) as z:
        counts, xyxy, conf, cid = z["counts"], z["xyxy"], z["confidence"], z["class_id"]
        names = tuple(str(n) for n in z["class_names"])
    out: list[Detections] = []
    at = 0
    for n in counts:
        sl = slice(at, at + int(n))
        out.append(
            Detections(
                xyxy[sl].astype(np.float32),
                conf[sl].astype(np.float32),
                cid[sl].astype(np.int32),
                names,
            )
        )
        at += int(n)
    return out


def clip_detections(
    clip: Path,
    cache_dir: Path | None,
    detector_name: str = "yolox_onnx",
    progress: Callable[[int], None] | None = None,
    model_path: Path | None = None,
) -> list[Detections]:
    """Run the detector over every frame of ``clip``, reusing a cache when there is one."""
    from detectors.backends import create_detector

    opts: dict[str, Any] = {"conf": CACHE_CONF}
    if model_path is not None:
        opts["model_path"] = model_path
    detector: Any = create_detector(detector_name, **opts)
    model = getattr(detector, "path", None)
    key = digest(clip) + "-" + (digest(Path(model)) if model else detector_name)
    cache = cache_dir / f"dets-{clip.stem}-{detector_name}-{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        return load_detections(cache)
    dets: list[Detections] = []
    for frame in read_frames(clip):
        dets.append(detector.detect(frame))
        if progress is not None:
            progress(len(dets))
    if not dets:
        raise EvalError(f"clip {clip} has no frames")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_detections(cache, dets)
    return dets


def read_frames(clip: Path) -> Iterator[npt.NDArray[np.uint8]]:
    """Every frame of a video file, in order (BGR); EvalError if it cannot be opened."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    if not cap.isOpened():
        raise EvalError(f"clip {clip} cannot be opened")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield np.asarray(frame, np.uint8)
    finally:
        cap.release()
