"""Platform API keys: ``gwk_`` plus 32 random bytes; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "gwk_"


def new_key() -> str:
    """A fresh key to show its owner once."""
    return PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> bytes:
    """What the database keeps of a key (a fast hash suffices for 256 random bits)."""
    return hashlib.sha256(key.encode()).digest()


def looks_like_key(value: str) -> bool:
    return value.startswith(PREFIX) and 20 <= len(value) <= 128
