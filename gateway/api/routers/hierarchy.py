"""``/api/v1/hierarchy``: the caller's areas as GeoJSON for the map.

The whole town for town-wide roles; otherwise the caller's own areas, plus the
areas above them (outline only, without their people) so the map has a frame.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.api.deps import CurrentPerson, TownDep
from gateway.api.models.hierarchy import HierarchyPublic

router = APIRouter(prefix="/api/v1/hierarchy", tags=["hierarchy"])


@router.get("", response_model=HierarchyPublic, response_model_exclude_unset=True)
def hierarchy(town: TownDep, principal: CurrentPerson) -> dict[str, Any]:
    """Your areas as GeoJSON / 辖区边界 GeoJSON."""
    geo: dict[str, Any] = town.hierarchy.geojson()
    scope = principal.scope
    if scope.all:
        return geo
    own = scope.units | scope.grids | scope.villages
    above = {a.id for area in own for a in town.hierarchy.chain(area)} - own
    features = []
    for feature in geo["features"]:
        if feature["id"] in own:
            features.append(feature)
        elif feature["id"] in above:
            props = {
                k: v for k, v in feature["properties"].items() if k not in ("leader", "liaison")
            }
            features.append({**feature, "properties": props})
    return {"type": "FeatureCollection", "features": features}
