"""A case action's body."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ActionCreate(BaseModel):
    """What an action carries; which fields it needs depends on the action."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str | None = Field(
        None, max_length=2000, pattern=r"^[^\x00]*$", description="Reason or note / 说明"
    )
    rating: int | None = Field(None, ge=1, le=5, description="Follow-up rating / 回访评分")
    duplicate_of: int | None = Field(None, ge=1, le=2**63 - 1)
    mediation_outcome: Literal["mediated", "failed", "referred"] | None = None
