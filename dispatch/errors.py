"""The dispatch package's exceptions."""

from __future__ import annotations


class DispatchError(Exception):
    """Base of every error the dispatcher raises on purpose."""


class ConfigError(DispatchError):
    """A deadline or routing table that cannot be used; the message names file and key."""


class TransitionError(DispatchError):
    """A case action that is not allowed from the case's current status."""


class CaseNotFound(DispatchError):
    """No case with that id."""
