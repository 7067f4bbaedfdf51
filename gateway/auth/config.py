"""Token settings from the process settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.auth.tokens import TokenConfig

if TYPE_CHECKING:
    from gridwatch.settings import Settings


def token_config(settings: Settings) -> TokenConfig:
    """The signing key (``GRIDWATCH_JWT_SECRET`` / ``_KID``) plus retired keys still accepted."""
    keys = {kid: v.get_secret_value() for kid, v in settings.jwt_old_keys.items()}
    keys[settings.jwt_kid] = settings.jwt_secret.get_secret_value()
    return TokenConfig(
        kid=settings.jwt_kid,
        keys=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_s=settings.token_ttl_s,
    )
