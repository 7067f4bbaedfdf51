"""Token and caller bodies."""

from __future__ import annotations

from pydantic import Field

from gateway.api.models.base import Public
from gridwatch.domain import Role


class TokenPublic(Public):
    """OAuth2 token response (RFC 6749 section 5.1)."""

    access_token: str
    token_type: str = Field("bearer")
    expires_in: int = Field(description="Seconds the token is valid / 有效秒数")


class ScopePublic(Public):
    all: bool
    units: list[str]
    grids: list[str]
    villages: list[str]
    departments: list[str]
    phones: bool


class MePublic(Public):
    """Who the caller is and what they may see."""

    subject: str
    person_id: str | None
    name: str | None
    role: Role
    scope: ScopePublic
