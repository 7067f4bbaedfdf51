"""Pure pixel geometry: where an object stands, which zone holds it, which side of a line.

An object counts by the bottom centre of its box (where its feet or wheels touch
the ground), as Frigate and supervision do: the top of a tall person may reach
into a zone the person is not in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Point = tuple[float, float]
Box = tuple[float, float, float, float]


def anchor(box: Box) -> Point:
    """Bottom centre of an ``x1, y1, x2, y2`` box."""
    return ((box[0] + box[2]) / 2.0, box[3])


def in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; a point exactly on an edge may fall either way."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def side(point: Point, a: Point, b: Point) -> float:
    """Cross product of a→b and a→point in image coordinates (y down): > 0 when the point
    lies to the right of a→b as drawn on screen, < 0 to its left, 0 on the line."""
    return (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0])


def crosses_segment(p: Point, q: Point, a: Point, b: Point) -> bool:
    """Whether the move p→q crosses the segment a→b (touching an end counts)."""
    d1, d2 = side(p, a, b), side(q, a, b)
    if d1 == 0 or d2 == 0 or (d1 > 0) == (d2 > 0):
        return False
    d3, d4 = side(a, p, q), side(b, p, q)
    return (d3 >= 0) != (d4 >= 0) or d3 == 0 or d4 == 0


class Zone:
    """A named polygon; ``None`` polygon means the whole frame. ``admits(cls, box)`` says
    whether an object counts here at all (the camera's masks and filters); default: all."""

    def __init__(
        self,
        name: str | None,
        polygon: Sequence[Point] | None,
        admits: Callable[[str, Box], bool] | None = None,
    ) -> None:
        self.name = name
        self.polygon = tuple(polygon) if polygon is not None else None
        self._admits = admits

    def contains(self, box: Box) -> bool:
        return self.polygon is None or in_polygon(anchor(box), self.polygon)

    def admits(self, cls: str, box: Box) -> bool:
        return self._admits is None or self._admits(cls, box)
