"""The caller's areas as the API shows them: a GeoJSON FeatureCollection."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gateway.api.models.base import Public


class ContactPublic(Public):
    name: str
    person: str = Field(description="Person id / 人员编号")


class AreaProperties(Public):
    id: str
    level: Literal["unit", "grid", "village", "town"]
    name: str
    parent: str | None
    leader: ContactPublic | None = Field(None, description="Only for your own areas")
    liaison: ContactPublic | None = Field(None, description="Party-member liaison / 联系户")


class AreaFeature(Public):
    type: Literal["Feature"]
    id: str
    properties: AreaProperties
    geometry: dict[str, Any] = Field(description="GeoJSON geometry (WGS 84)")


class HierarchyPublic(Public):
    """Your areas, and the outlines of the areas above them / 辖区边界."""

    type: Literal["FeatureCollection"]
    features: list[AreaFeature]
