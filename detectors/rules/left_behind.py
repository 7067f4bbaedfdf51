"""Object left behind, kept simple on purpose.

A tracked object of one of ``classes`` (bags by default) that has stood still
for ``stationary_s`` while no person stands within ``owner_radius`` of its own
height is taken as left behind. Who brought it is not tracked: a bag set down
next to a seated owner does not fire, and one whose owner walked away does. The
episode ends when the object is taken away (disappears) or moves.
"""

from __future__ import annotations

from collections.abc import Sequence

from detectors.rules.base import StillRule
from detectors.tracking import Track
from gridwatch.camera_rules import LeftBehindRule


class LeftBehind(StillRule[LeftBehindRule]):
    def fires(self, still: Track, tracks: Sequence[Track]) -> bool:
        """Only while no person stands within ``owner_radius`` heights of the object."""
        x, y = still.anchor
        reach = self.cfg.owner_radius * max(1.0, still.box[3] - still.box[1])
        people = (t.anchor for t in tracks if t.cls == "person")
        return all(abs(px - x) > reach or abs(py - y) > reach for px, py in people)
