"""Pixel ↔ lon/lat homography: round trip, bottom-centre mapping, refusal of bad points."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gridwatch.homography import Homography, HomographyError, field_of_view

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


# ---------------------------------------------------------------- fields of view

#: A camera over a flat road, horizon at pixel row 200: north = 2800 / (y - 200) m,
#: east = 10 (x - 320) / (y - 200) m, so the bottom row (480) is 10 m ahead.
HORIZON = Homography(
    np.array([[10.0, 0.0, -3200.0], [0.0, 0.0, 2800.0], [0.0, 1.0, -200.0]]),
    (119.27, 26.07),
    0.0,
)


def _local(p: tuple[float, float]) -> tuple[float, float]:
    east = math.radians(p[0] - 119.27) * 6_371_008.8 * math.cos(math.radians(26.07))
    return east, math.radians(p[1] - 26.07) * 6_371_008.8


def _anticlockwise(ring: list[tuple[float, float]]) -> bool:
    pts = [_local(p) for p in ring]
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(pts))
    return area > 0


def test_a_view_of_the_ground_is_its_reference_quadrilateral() -> None:
    # The frame's corners are the reference points: the view is the four of them.
    pixels = [(0.0, 0.0), (768.0, 0.0), (768.0, 576.0), (0.0, 576.0)]
    h = Homography.from_points(pixels, LONLATS)
    ring = field_of_view(h, (0.0, 0.0, 768.0, 576.0), ground=(384.0, 288.0))
    assert ring is not None and ring[0] == ring[-1] and len(ring) == 5
    assert _anticlockwise(ring)
    for corner in LONLATS:
        assert min(metres(corner, p) for p in ring) < 0.01


@pytest.mark.parametrize(
    ("frame", "max_range", "expect_north"),
    [
        ((0.0, 0.0, 640.0, 480.0), 300.0, (10.0, 300.0)),  # cut at the range, not at infinity
        ((0.0, 0.0, 640.0, 480.0), 50.0, (10.0, 50.0)),
        ((0.0, 300.0, 640.0, 480.0), 300.0, (10.0, 28.0)),  # all below the horizon: 28 m at y 300
        ((0.0, 0.0, 640.0, 150.0), 300.0, None),  # all sky
    ],
)
def test_a_view_up_to_the_horizon_is_cut_at_it_and_at_the_range(
    frame: tuple[float, float, float, float],
    max_range: float,
    expect_north: tuple[float, float] | None,
) -> None:
    ring = field_of_view(HORIZON, frame, ground=(320.0, 400.0), max_range_m=max_range)
    if expect_north is None:
        assert ring is None
        return
    assert ring is not None and ring[0] == ring[-1] and _anticlockwise(ring)
    norths = [_local(p)[1] for p in ring]
    assert min(norths) == pytest.approx(expect_north[0], abs=0.01)
    assert max(norths) == pytest.approx(expect_north[1], abs=0.01)
    assert all(abs(_local(p)[0]) <= max_range + 0.01 for p in ring)
