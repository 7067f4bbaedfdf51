"""``/api/v1/hierarchy``: the town's areas as GeoJSON for the map."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.api.deps import TownDep

router = APIRouter(prefix="/api/v1/hierarchy", tags=["hierarchy"])


@router.get("")
def hierarchy(town: TownDep) -> dict[str, Any]:
    """The town's areas as GeoJSON / 辖区边界 GeoJSON."""
    geo: dict[str, Any] = town.hierarchy.geojson()
    return geo
