"""Value types shared by detector back-ends, trackers and rules. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt


class DetectorError(Exception):
    """Base of every detectors error."""


class ModelError(DetectorError):
    """A model file or class list that cannot be used; the message names which."""


@dataclass(frozen=True)
class Detections:
    """Detections in one frame as parallel arrays (supervision's layout).

    ``xyxy`` is (N, 4) float32 pixel boxes, ``confidence`` (N,) float32 and
    ``class_id`` (N,) int32 indexing ``class_names``.
    """

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy has shape {self.xyxy.shape}, expected ({n}, 4)")
        if self.confidence.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(
                f"confidence {self.confidence.shape} and class_id {self.class_id.shape} "
                f"must both be ({n},)"
            )

    @classmethod
    def empty(cls, class_names: tuple[str, ...] = ()) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int32),
            class_names,
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def labels(self) -> list[str]:
        return [self.class_names[i] for i in self.class_id]

    def of_class(self, *names: str) -> Detections:
        wanted = [i for i, n in enumerate(self.class_names) if n in names]
        keep = np.isin(self.class_id, wanted)
        return Detections(
            self.xyxy[keep], self.confidence[keep], self.class_id[keep], self.class_names
        )


class Detector(Protocol):
    """A back-end: BGR frame in, detections out. Implementations are registered by name."""

    class_names: tuple[str, ...]

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> Detections: ...


Phase = Literal["start", "update", "end"]


@dataclass(frozen=True)
class RuleHit:
    """A rule's finding about one situation; ``key`` is stable for that situation.

    The edge gives each new ``key`` an event id at ``start`` and reuses it for
    ``update`` and ``end``, so one situation is one event.
    """

    key: str
    rule: str
    category: str
    phase: Phase
    ts: datetime
    severity: int = 2
    cls: str | None = None
    score: float | None = None
    track_id: int | None = None
    zone: str | None = None
    box: tuple[float, float, float, float] | None = None
    start: datetime | None = None
    end: datetime | None = None
    summary: str | None = None
    extra: dict[str, float | int | str] = field(default_factory=dict)


class CameraRules(Protocol):
    """Everything one camera's rules need per processed frame, returning their findings."""

    def step(
        self, ts: datetime, frame_bgr: npt.NDArray[np.uint8] | None, detections: Detections
    ) -> list[RuleHit]: ...
