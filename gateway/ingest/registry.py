"""The device registry the gateway validates against: device id -> its unit id.

The town's config is the source of truth (``devices.yaml``); loading stays in
this one function so a reload or another source changes one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridwatch.town import Town


def registry_from_town(town: Town) -> dict[str, str | None]:
    """Every registered device with the unit that holds it."""
    return {device_id: dev.unit for device_id, dev in town.devices.items()}
