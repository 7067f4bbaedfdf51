"""Who is calling Open311: a platform API key, or the public where a deployment allows it.

The spec passes ``api_key`` as a form field on ``POST requests``; reads take it as
a query argument or an ``X-Api-Key`` header. Key checking itself belongs to
``gateway.auth`` (keys are stored hashed, table ``api_keys``); this module only
asks it, through :data:`KeyCheck`, so the router can be tested with a stand-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

#: (connection, presented key) -> the key's id, or None when unknown, revoked or expired.
KeyCheck = Callable[[psycopg.Connection[Any], str], str | None]


@dataclass(frozen=True, slots=True)
class Caller:
    """``client`` names the caller in stored rows: ``key:<id>`` or ``public:<address>``."""

    client: str
    key_id: str | None

    @property
    def public(self) -> bool:
        return self.key_id is None


def no_keys(conn: psycopg.Connection[Any], key: str) -> str | None:
    """Until ``gateway.auth`` is wired in: no key is valid."""
    return None
