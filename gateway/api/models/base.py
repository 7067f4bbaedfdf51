"""The base of every response model: read from typed rows, refuse unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Public(BaseModel):
    """A response body; built from a row dataclass with ``model_validate(row)``."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)
