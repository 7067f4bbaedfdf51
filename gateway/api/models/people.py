"""People of people.yaml as the API shows them; phones only to roles that need them."""

from __future__ import annotations

from pydantic import Field

from gateway.api.models.base import Public


class PostPublic(Public):
    kind: str
    area: str | None
    department: str | None


class PersonPublic(Public):
    id: str
    name: str
    phone: str | None = Field(
        description="Only for the duty commander and leaders above the person / 仅上级可见"
    )
    department: str | None
    posts: list[PostPublic]
