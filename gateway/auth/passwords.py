"""Password hashes: argon2id through argon2-cffi, with its default (RFC 9106) parameters."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 256


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def check_strength(password: str) -> None:
    """ValueError naming the rule when a new password is too short or too long."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValueError(
            f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters, not {len(password)}"
            f" / 密码长度须为 {MIN_LENGTH}-{MAX_LENGTH}"
        )


def hash_password(password: str) -> str:
    """An argon2id hash (``$argon2id$...``) of a password that passed :func:`check_strength`."""
    check_strength(password)
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches; False also for a malformed stored hash."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against when there is no account, so both cases take as long."""
    return _hasher().hash("no account has this password")
