"""Pixel ↔ lon/lat homography: round trip, bottom-centre mapping, refusal of bad points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridwatch.homography import Homography, HomographyError

# A camera looking down a street in Jiaowei: four corners of a 768x576 view and
# where they lie on the map (the far edge is wider on the ground than the near one).
PIXELS = [(0.0, 576.0), (768.0, 576.0), (560.0, 200.0), (210.0, 200.0)]
LONLATS = [
    (119.27010, 26.07010),
    (119.27040, 26.07012),
    (119.27065, 26.07095),
    (119.26990, 26.07090),
]


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[1] - b[1]) * 111_195.0
    dx = (a[0] - b[0]) * 111_195.0 * math.cos(math.radians(a[1]))
    return math.hypot(dx, dy)


def test_reference_points_map_exactly() -> None:
    h = Homography.from_points(PIXELS, LONLATS)
    assert h.error_m < 0.01
    for px, ll in zip(PIXELS, LONLATS, strict=True):
        assert metres(h.to_map(px), ll) < 0.01


@pytest.mark.parametrize("pixel", [(384.0, 400.0), (100.0, 550.0), (500.0, 250.0), (700.0, 20.0)])
def test_round_trip(pixel: tuple[float, float]) -> None:
    h = Homography.from_points(PIXELS, LONLATS)
    back = h.to_pixel(h.to_map(pixel))
    assert np.allclose(back, pixel, atol=1e-4)


def test_points_inside_the_view_land_inside_the_quadrilateral() -> None:
    h = Homography.from_points(PIXELS, LONLATS)
    lon, lat = h.to_map((384.0, 400.0))
    assert 119.2699 < lon < 119.2707 and 26.0701 < lat < 26.0710
    # Further up the image is further away along the street (north here).
    assert h.to_map((384.0, 250.0))[1] > lat


def test_box_maps_by_its_bottom_centre() -> None:
    h = Homography.from_points(PIXELS, LONLATS)
    assert h.box_to_map((300.0, 100.0, 400.0, 500.0)) == h.to_map((350.0, 500.0))


def test_more_than_four_points_fit_by_least_squares() -> None:
    exact = Homography.from_points(PIXELS, LONLATS)
    extra_px = [(384.0, 400.0), (200.0, 300.0), (600.0, 500.0)]
    pixels = PIXELS + extra_px
    lonlats = LONLATS + [exact.to_map(p) for p in extra_px]
    h = Homography.from_points(pixels, lonlats)
    assert metres(h.to_map((384.0, 300.0)), exact.to_map((384.0, 300.0))) < 0.05


@pytest.mark.parametrize(
    ("pixels", "lonlats", "message"),
    [
        (PIXELS[:3], LONLATS[:3], "at least 4 reference points"),
        (PIXELS, LONLATS[:3], "4 pixel points but 3 lon/lat"),
        (
            [(0.0, 0.0), (100.0, 100.0), (200.0, 200.0), (300.0, 300.0)],
            LONLATS,
            "pixel points lie on a line",
        ),
        (
            [(0.0, 0.0), (100.0, 0.0), (200.0, 0.0), (100.0, 300.0)],
            LONLATS,
            "pixel points lie on a line",
        ),
        (
            PIXELS,
            [(119.27, 26.07), (119.27, 26.07), (119.27, 26.07), (119.2701, 26.0701)],
            "map points lie on a line",
        ),
        (PIXELS, [(26.0701, 119.2701), *LONLATS[1:]], "not a WGS-84 coordinate"),
        ([*PIXELS, (384.0, 400.0)], [*LONLATS, (119.28, 26.08)], "disagree by up to"),
    ],
)
def test_bad_reference_points_are_refused(
    pixels: list[tuple[float, float]], lonlats: list[tuple[float, float]], message: str
) -> None:
    with pytest.raises(HomographyError, match=message):
        Homography.from_points(pixels, lonlats)
