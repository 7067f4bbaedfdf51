"""Bearer tokens: JWT signed with HS256 through PyJWT.

The accepted algorithm is pinned (never taken from the token); ``exp``, ``nbf``,
``iat``, ``iss``, ``aud``, ``sub`` and ``jti`` are required and checked with a
small leeway for clocks. The header's ``kid`` names the key, so a new key can
sign while tokens signed by the old one still verify until it is retired.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from gateway.auth.errors import InvalidCredentials

ALGORITHM = "HS256"
#: Seconds of clock difference tolerated on exp / nbf / iat.
LEEWAY_S = 30
#: HS256 keys shorter than this are refused (RFC 7518 section 3.2: at least 256 bits).
MIN_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """Who signs and who may accept: ``kid`` signs new tokens; ``keys`` verifies."""

    kid: str
    keys: Mapping[str, str]
    issuer: str
    audience: str
    ttl_s: int
    leeway_s: int = LEEWAY_S

    def __post_init__(self) -> None:
        if self.kid not in self.keys:
            raise ValueError(f"signing key id {self.kid!r} is not among {sorted(self.keys)}")
        for kid, secret in self.keys.items():
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"token key {kid!r} has {len(secret.encode())} bytes;"
                    f" at least {MIN_SECRET_BYTES} are needed"
                )


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    subject: str
    jti: str
    kid: str
    issued_at: datetime
    expires_at: datetime


def issue_token(
    config: TokenConfig, subject: str, *, ttl_s: int | None = None, now: datetime | None = None
) -> str:
    """A signed token for ``subject`` (a person id), valid from ``now`` for ``ttl_s``."""
    now = now or datetime.now(UTC)
    life = timedelta(seconds=config.ttl_s if ttl_s is None else ttl_s)
    claims = {
        "sub": subject,
        "iss": config.issuer,
        "aud": config.audience,
        "iat": now,
        "nbf": now,
        "exp": now + life,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        claims, config.keys[config.kid], algorithm=ALGORITHM, headers={"kid": config.kid}
    )


def decode_token(config: TokenConfig, token: str) -> Claims:
    """The token's claims; InvalidCredentials saying why when it does not verify."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidCredentials(f"malformed token: {exc}") from exc
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in config.keys:
        raise InvalidCredentials(f"token key id {kid!r} is not a current key")
    try:
        data = jwt.decode(
            token,
            config.keys[kid],
            algorithms=[ALGORITHM],
            audience=config.audience,
            issuer=config.issuer,
            leeway=config.leeway_s,
            options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]},
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidCredentials(f"token rejected: {exc}") from exc
    return Claims(
        subject=str(data["sub"]),
        jti=str(data["jti"]),
        kid=kid,
        issued_at=datetime.fromtimestamp(int(data["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
    )
