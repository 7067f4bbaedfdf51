"""Pixel to map: a homography from a camera's reference points. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gridwatch.town.models import HomographyPoint


class HomographyError(ValueError):
    """Reference points that give no usable homography."""


def build_homography(points: Sequence[HomographyPoint]) -> npt.NDArray[np.float64]:
    """3x3 matrix taking detect-stream pixels to (lon, lat), fitted on >= 4 points."""
    import cv2

    if len(points) < 4:
        raise HomographyError(f"homography needs at least 4 points, got {len(points)}")
    src = np.array([p.px for p in points], np.float64)
    dst = np.array([(p.lon, p.lat) for p in points], np.float64)
    # Fit around the first point: raw degrees differ in the 5th decimal only.
    origin = dst[0].copy()
    h, _ = cv2.findHomography(src, (dst - origin) * 1e4, 0)
    if h is None:
        raise HomographyError(f"reference points {src.tolist()} are degenerate (collinear?)")
    shift = np.array([[1e-4, 0, origin[0]], [0, 1e-4, origin[1]], [0, 0, 1]], np.float64)
    return np.asarray(shift @ h, np.float64)


def project(h: npt.NDArray[np.float64], point: tuple[float, float]) -> tuple[float, float]:
    """Map one pixel through ``h``; returns (lon, lat)."""
    v = h @ np.array([point[0], point[1], 1.0])
    return float(v[0] / v[2]), float(v[1] / v[2])
