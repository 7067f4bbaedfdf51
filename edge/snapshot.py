"""Evidence frames: a JPEG on disk, referenced from the event by path and sha256."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from uuid import UUID

import numpy as np
import numpy.typing as npt

from gateway.contract import Snapshot

JPEG_QUALITY = 85


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
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"camera {camera_id}: JPEG encoding of frame {frame_index} failed")
    data = buf.tobytes()
    ref = f"{camera_id}/{ts:%Y%m%d}/{event_id}-{seq}.jpg"
    path = snapshot_dir / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    h, w = image.shape[:2]
    return Snapshot(
        sha256=hashlib.sha256(data).hexdigest(), ref=ref, frame=frame_index, width=w, height=h
    )
