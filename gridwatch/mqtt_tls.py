"""TLS and login for every paho client of gridwatch: one place that calls ``tls_set``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MqttTls:
    """The CA that signed the broker's certificate, and optionally a client certificate."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None


def apply_login(
    client: Any, *, username: str | None, password: str | None, tls: MqttTls | None
) -> None:
    """Set a paho client's user name, password and TLS before it connects."""
    if username:
        client.username_pw_set(username, password)
    if tls is not None:
        # Verifies the broker's certificate and host name against ``ca``: a client
        # never falls back to an unverified connection.
        client.tls_set(
            ca_certs=str(tls.ca),
            certfile=str(tls.cert) if tls.cert else None,
            keyfile=str(tls.key) if tls.key else None,
        )
