"""Storage: versioned migrations, capability checks and connection helpers."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage failure in gridwatch."""


class MigrationError(StorageError):
    """A migration file is malformed or failed to apply."""
