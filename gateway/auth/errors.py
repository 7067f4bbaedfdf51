"""The auth package's exceptions."""

from __future__ import annotations


class AuthError(Exception):
    """Base of every error the auth package raises on purpose."""


class InvalidCredentials(AuthError):
    """A token, key or password that does not prove who the caller is (HTTP 401)."""


class UnknownPerson(AuthError):
    """A person id that is not in people.yaml, or a role that cannot be derived."""
