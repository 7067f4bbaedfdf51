"""What the dispatcher tells an observer (its metrics), after each transaction commits.

Counted after the commit, never inside it: a rolled-back batch counts nothing, so
the counters agree with the rows stored. The domain code knows only this
protocol; ``dispatch.metrics`` is the Prometheus side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from dispatch.rows import QueuedEvent


class DispatchObserver(Protocol):
    def dispatched(self, lags_s: Sequence[float]) -> None:
        """Events taken from the queue; each one's seconds from receipt to its case."""

    def opened(self, categories: Sequence[str]) -> None:
        """Cases opened, one category per case."""

    def escalated(self, levels: Sequence[str]) -> None:
        """Cases raised by the timers, one level name (``gridwatch.domain.LEVELS``) each."""

    def reminded(self, kinds: Sequence[str]) -> None:
        """Reminders sent, one kind (accept, resolve) each."""


class NoObserver:
    """The default: nothing counted (tools, tests, case actions in the gateway)."""

    def dispatched(self, lags_s: Sequence[float]) -> None:
        pass

    def opened(self, categories: Sequence[str]) -> None:
        pass

    def escalated(self, levels: Sequence[str]) -> None:
        pass

    def reminded(self, kinds: Sequence[str]) -> None:
        pass


def lags(rows: Sequence[QueuedEvent], now: datetime) -> list[float]:
    """Seconds from each event's receipt by the gateway to now (its time when the gateway's
    receipt is gone); never below zero, for a test's manual clock behind the rows."""
    out = []
    for row in rows:
        since = row.received_at or row.ts
        out.append(max(0.0, (now - since).total_seconds()))
    return out
