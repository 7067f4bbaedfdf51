"""Blur faces and number plates out of an evidence frame before it is written anywhere.

Two sources of regions, combined: OpenCV's shipped Haar cascades (frontal faces,
profiles, and the number-plate cascade) find what they can on the frame itself,
and every detected person's head band (the top of its box) and every vehicle's
plate band (the lower part of its box) are blurred whether a cascade fired or
not, because a cascade misses small, turned or partly hidden faces.

The blur is a mosaic (the region shrunk to a few cells, then smoothly enlarged)
followed by a Gaussian, so neither a person nor a face detector can recover a face.
Only pixels inside a region change: ``blur_regions`` copies the frame and writes
each region back, so evidence outside stays bit for bit what the camera saw.

Pure apart from loading the cascades (once per process, from cv2's own files).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.types import Detections

Box = tuple[int, int, int, int]

#: COCO names (detectors/coco.py) whose box is a person, or a vehicle with a plate.
PERSON_CLASSES = frozenset({"person"})
VEHICLE_CLASSES = frozenset({"car", "truck", "bus", "motorcycle"})

#: What runs on the box for every snapshot frame: one frontal and one profile cascade
#: at a coarse scale step (about 0.2 s each on a 768 x 576 frame, one core), since
#: the person boxes' head bands already cover the faces a cascade misses.
FACE_CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")
#: Every face cascade OpenCV ships: what a test checks the result against.
ALL_FACE_CASCADES = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_frontalface_alt.xml",
    "haarcascade_frontalface_alt2.xml",
    "haarcascade_frontalface_alt_tree.xml",
    "haarcascade_profileface.xml",
)
SCALE_FACTOR = 1.2
PLATE_CASCADE = "haarcascade_russian_plate_number.xml"


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """What to blur. ``head_fraction``: the top share of a person box taken as the head;
    ``plate_band``: the lower share of a vehicle box where its plate is."""

    faces: bool = True
    plates: bool = True
    head_fraction: float = 0.3
    plate_band: float = 0.45
    #: Margin added around every region, as a share of its size (hair, chin, plate frame).
    margin: float = 0.1
    #: Mosaic cells across a region's longer side.
    cells: int = 6


@functools.cache
def _cascade(name: str) -> Any:
    import cv2

    # cv2.data is a submodule its stubs do not declare.
    path = cv2.data.haarcascades + name  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise FileNotFoundError(f"OpenCV cascade {path!r} is missing or unreadable")
    return cascade


def cascade_boxes(
    image: npt.NDArray[np.uint8],
    names: Iterable[str],
    *,
    scale_factor: float = SCALE_FACTOR,
    min_neighbors: int = 4,
) -> list[Box]:
    """Boxes (x1, y1, x2, y2) that any of the cascades ``names`` finds on a BGR image."""
    import cv2

    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    out: list[Box] = []
    for name in names:
        found = _cascade(name).detectMultiScale(
            gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(16, 16)
        )
        out += [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in found]
    return out


def find_faces(image: npt.NDArray[np.uint8]) -> list[Box]:
    return cascade_boxes(image, FACE_CASCADES)


def find_plates(image: npt.NDArray[np.uint8]) -> list[Box]:
    return cascade_boxes(image, (PLATE_CASCADE,))


def object_regions(
    boxes: Sequence[tuple[float, float, float, float]],
    classes: Sequence[str],
    policy: PrivacyPolicy,
) -> list[Box]:
    """Head bands of person boxes and plate bands of vehicle boxes."""
    out: list[Box] = []
    for (x1, y1, x2, y2), cls in zip(boxes, classes, strict=True):
        h = y2 - y1
        if policy.faces and cls in PERSON_CLASSES:
            out.append((round(x1), round(y1), round(x2), round(y1 + h * policy.head_fraction)))
        elif policy.plates and cls in VEHICLE_CLASSES:
            out.append((round(x1), round(y2 - h * policy.plate_band), round(x2), round(y2)))
    return out


def detection_regions(dets: Detections, policy: PrivacyPolicy) -> list[Box]:
    """``object_regions`` of a detector's output."""
    return object_regions([tuple(b) for b in dets.xyxy.tolist()], dets.labels(), policy)


def grow(box: Box, margin: float, width: int, height: int) -> Box | None:
    """The box enlarged by ``margin`` of its size each side, clipped; None when empty."""
    x1, y1, x2, y2 = box
    dx, dy = round((x2 - x1) * margin), round((y2 - y1) * margin)
    x1, y1 = max(0, x1 - dx), max(0, y1 - dy)
    x2, y2 = min(width, x2 + dx), min(height, y2 + dy)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def blur_regions(
    image: npt.NDArray[np.uint8], regions: Iterable[Box], policy: PrivacyPolicy = PrivacyPolicy()
) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with every region (grown by ``policy.margin``) mosaicked and
    blurred; pixels outside the grown regions are untouched."""
    import cv2

    out = image.copy()
    h, w = image.shape[:2]
    for region in regions:
        grown = grow(region, policy.margin, w, h)
        if grown is None:
            continue
        x1, y1, x2, y2 = grown
        roi = out[y1:y2, x1:x2]
        rw, rh = x2 - x1, y2 - y1
        scale = policy.cells / max(rw, rh)
        cells = (max(1, round(rw * scale)), max(1, round(rh * scale)))
        small = cv2.resize(roi, cells, interpolation=cv2.INTER_AREA)
        smooth = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_LINEAR)
        # Blurs the mosaic's seams; the border stays inside the region (reflected).
        sigma = max(rw, rh) / policy.cells / 2
        out[y1:y2, x1:x2] = cv2.GaussianBlur(smooth, (0, 0), sigma)
    return out


def privacy_regions(
    image: npt.NDArray[np.uint8],
    policy: PrivacyPolicy,
    objects: Sequence[Box] = (),
) -> list[Box]:
    """Every region to blur: what the cascades find plus the given object bands."""
    regions = list(objects)
    if policy.faces:
        regions += find_faces(image)
    if policy.plates:
        regions += find_plates(image)
    return regions


def anonymise(
    image: npt.NDArray[np.uint8], policy: PrivacyPolicy, objects: Sequence[Box] = ()
) -> npt.NDArray[np.uint8]:
    """The frame with faces and plates blurred (cascades plus ``objects``' bands)."""
    if not (policy.faces or policy.plates):
        return image
    return blur_regions(image, privacy_regions(image, policy, objects), policy)
