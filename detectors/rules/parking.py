"""Illegal parking: a vehicle standing still inside a zone longer than ``stationary_s``.

Unlike Frigate's endless "in progress" for parked cars, the episode starts
(dated back to when the vehicle stopped) once it has stood still for
``stationary_s`` and ends when it drives off or disappears for ``min_off_s``.
While parked, small jitter of the box does not count as moving; a vehicle that
has moved within the last couple of seconds does.
"""

from __future__ import annotations

from detectors.rules.base import StillRule
from gridwatch.camera_rules import ParkingRule


class Parking(StillRule[ParkingRule]):
    """Every vehicle that has stood still for ``stationary_s`` is parked."""
