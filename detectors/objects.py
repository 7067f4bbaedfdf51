"""Which objects a camera's rules may count: object masks and size and shape filters.

Pure: ``ObjectScreen.admits(cls, box, zone)`` answers for one box. A mask drops a
class wherever the box's bottom centre lies in its polygon (as zones count); a
filter drops boxes of its classes whose area or width/height ratio falls outside
its bounds, everywhere or only for the rules of one zone. Filters in metres use
the camera's homography: the box's bottom edge mapped onto the ground gives its
width in metres, and its height is taken at the same scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from detectors.zones import Box, anchor, in_polygon
from gridwatch.camera_objects import ObjectFilter, ObjectMask
from gridwatch.homography import Homography, HomographyError


def metres_per_pixel(h: Homography, box: Box) -> float | None:
    """Ground metres per pixel along the box's bottom edge; None on the horizon."""
    x1, _, x2, y2 = box
    try:
        left, right = h.to_ground((x1, y2)), h.to_ground((x2, y2))
    except HomographyError:
        return None
    return math.dist(left, right) / max(1e-6, x2 - x1)


def size(box: Box, unit: str, homography: Homography | None) -> tuple[float, float] | None:
    """(area, width/height ratio) of a box in ``unit``; None where metres cannot be had."""
    w, h = max(0.0, box[2] - box[0]), max(0.0, box[3] - box[1])
    ratio = w / h if h > 0 else math.inf
    if unit == "px":
        return w * h, ratio
    if homography is None:
        return None
    scale = metres_per_pixel(homography, box)
    return None if scale is None else (w * h * scale * scale, ratio)


def passes(f: ObjectFilter, box: Box, homography: Homography | None) -> bool:
    """Whether a box of one of ``f``'s classes is inside its bounds (a box that cannot be
    measured in metres passes: the filter says nothing about it)."""
    measured = size(box, f.unit, homography)
    if measured is None:
        return True
    area, ratio = measured
    return (
        (f.min_area is None or area >= f.min_area)
        and (f.max_area is None or area <= f.max_area)
        and (f.min_ratio is None or ratio >= f.min_ratio)
        and (f.max_ratio is None or ratio <= f.max_ratio)
    )


class ObjectScreen:
    """One camera's masks and filters."""

    def __init__(
        self,
        masks: Sequence[ObjectMask] = (),
        filters: Sequence[ObjectFilter] = (),
        homography: Homography | None = None,
    ) -> None:
        self.masks = [(frozenset(m.classes), tuple(m.polygon)) for m in masks]
        self.filters = list(filters)
        self.homography = homography

    def masked(self, cls: str, box: Box) -> bool:
        p = anchor(box)
        return any(cls in classes and in_polygon(p, poly) for classes, poly in self.masks)

    def admits(self, cls: str, box: Box, zone: str | None = None) -> bool:
        """Whether a box of ``cls`` counts for a rule of ``zone`` (None: a rule without one)."""
        if self.masked(cls, box):
            return False
        return all(
            passes(f, box, self.homography)
            for f in self.filters
            if cls in f.classes and (f.zone is None or f.zone == zone)
        )
