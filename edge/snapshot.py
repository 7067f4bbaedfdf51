"""Evidence frames: JPEGs on disk, referenced from the event by path and sha256.

The camera blurs faces and plates (``detectors.privacy``) before calling these:
what is written here is what leaves the box.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

import numpy as np
import numpy.typing as npt

from gateway.contract import MAX_SNAPSHOT_JPEG, Snapshot

JPEG_QUALITY = 85
#: Tried in turn when a frame's JPEG is over the contract's snapshot size.
FALLBACK_QUALITIES = (70, 55, 40)
#: Room around the object in its crop, as a share of the box's size.
CROP_MARGIN = 0.15


def encode_jpeg(image: npt.NDArray[np.uint8], what: str) -> bytes:
    """JPEG bytes within ``MAX_SNAPSHOT_JPEG``, lowering the quality when needed."""
    import cv2

    data = b""
    for quality in (JPEG_QUALITY, *FALLBACK_QUALITIES):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError(f"{what}: JPEG encoding failed")
        data = buf.tobytes()
        if len(data) <= MAX_SNAPSHOT_JPEG:
            return data
    raise OSError(f"{what}: JPEG of {len(data)} bytes at quality 40 exceeds {MAX_SNAPSHOT_JPEG}")


def _store(snapshot_dir: Path, ref: str, data: bytes) -> None:
    path = snapshot_dir / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_snapshot(
    snapshot_dir: Path,
    camera_id: str,
    image: npt.NDArray[np.uint8],
    *,
    event_id: UUID,
    seq: int,
    ts: datetime,
    frame_index: int | None = None,
    box: tuple[float, float, float, float] | None = None,
) -> Snapshot:
    """Write the frame (with the box drawn, if any) and describe it for the contract.

    ``ref`` is relative to ``snapshot_dir``: ``CAMERA/YYYYMMDD/EVENT-SEQ.jpg``.
    """
    import cv2

    img = image
    if box is not None:
        img = image.copy()
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 255), 2)
    data = encode_jpeg(img, f"camera {camera_id} frame {frame_index}")
    ref = f"{camera_id}/{ts:%Y%m%d}/{event_id}-{seq}.jpg"
    _store(snapshot_dir, ref, data)
    h, w = image.shape[:2]
    return Snapshot(
        sha256=hashlib.sha256(data).hexdigest(), ref=ref, frame=frame_index, width=w, height=h
    )


def crop_box(
    box: tuple[float, float, float, float], width: int, height: int, margin: float = CROP_MARGIN
) -> tuple[int, int, int, int] | None:
    """The object's box with a margin, clipped to the frame; None when nothing is left."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    cx1, cy1 = max(0, int(x1 - dx)), max(0, int(y1 - dy))
    cx2, cy2 = min(width, int(np.ceil(x2 + dx))), min(height, int(np.ceil(y2 + dy)))
    return (cx1, cy1, cx2, cy2) if cx2 > cx1 and cy2 > cy1 else None


def write_crop(
    snapshot_dir: Path,
    camera_id: str,
    image: npt.NDArray[np.uint8],
    box: tuple[float, float, float, float],
    *,
    event_id: UUID,
    seq: int,
    ts: datetime,
    frame_index: int | None = None,
) -> Snapshot | None:
    """Write the object cut out of the frame (``CAMERA/YYYYMMDD/EVENT-SEQ-crop.jpg``)."""
    h, w = image.shape[:2]
    cut = crop_box(box, w, h)
    if cut is None:
        return None
    x1, y1, x2, y2 = cut
    part = np.ascontiguousarray(image[y1:y2, x1:x2])
    data = encode_jpeg(part, f"camera {camera_id} crop of frame {frame_index}")
    ref = f"{camera_id}/{ts:%Y%m%d}/{event_id}-{seq}-crop.jpg"
    _store(snapshot_dir, ref, data)
    return Snapshot(
        sha256=hashlib.sha256(data).hexdigest(),
        ref=ref,
        frame=frame_index,
        width=x2 - x1,
        height=y2 - y1,
    )


@dataclass(frozen=True, slots=True)
class Evidence:
    """The files of one event: the frame, and the object's crop when it has a box."""

    frame: Snapshot
    crop: Snapshot | None
    #: False when these are the files of an earlier event of the same frame and box.
    fresh: bool


class EvidenceWriter:
    """Writes each camera's evidence JPEGs, once per frame and box.

    A second event on the same frame and box (a line crossing's end, which shares its
    start's frame; two rules firing on one object) gets the files already written:
    the same pixels make the same JPEG bytes, so a copy would carry a hash the
    snapshot queue already holds and would never be acknowledged or deleted.
    """

    def __init__(self, snapshot_dir: Path, camera_id: str) -> None:
        self.snapshot_dir = snapshot_dir
        self.camera_id = camera_id
        #: Per-run counter that tells files apart (the seq is given later, on sending).
        self.written = 0
        self._last: tuple[Hashable, Evidence] | None = None

    def write(
        self,
        image: npt.NDArray[np.uint8],
        *,
        shot: Hashable,
        box: tuple[float, float, float, float] | None,
        event_id: UUID,
        ts: datetime,
        frame_index: int | None = None,
    ) -> Evidence:
        """``shot`` names the frame ``image`` was made from (blurred already)."""
        key = (shot, box)
        if self._last is not None and self._last[0] == key:
            return Evidence(self._last[1].frame, self._last[1].crop, fresh=False)
        self.written += 1
        frame = write_snapshot(
            self.snapshot_dir,
            self.camera_id,
            image,
            event_id=event_id,
            seq=self.written,
            ts=ts,
            frame_index=frame_index,
            box=box,
        )
        crop = None
        if box is not None:
            crop = write_crop(
                self.snapshot_dir,
                self.camera_id,
                image,
                box,
                event_id=event_id,
                seq=self.written,
                ts=ts,
                frame_index=frame_index,
            )
        evidence = Evidence(frame, crop, fresh=True)
        self._last = (key, evidence)
        return evidence
