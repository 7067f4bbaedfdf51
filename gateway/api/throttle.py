"""Write rate limits per subject: an in-process token bucket.

Each subject (a person, or ``key:<id>`` for a platform) has a bucket of
``burst`` tokens refilled at ``per_minute``; a write takes one, and a write
finding the bucket empty is 429 with ``Retry-After``. A leader clearing a
backlog may act in a burst; a runaway integration is held to the steady rate.

In-process: each gateway process counts on its own, so N processes allow N
times the rate. That bounds a misbehaving client well enough; a shared limit
would need the database or a proxy in front.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

#: Writes per subject and minute, steady, and how many may come at once.
WRITES_PER_MINUTE = 120
WRITE_BURST = 30


class TokenBucket:
    """``take(key)`` is 0.0 when allowed, else the seconds until a token is back."""

    def __init__(
        self,
        per_minute: float = WRITES_PER_MINUTE,
        burst: int = WRITE_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError(f"per_minute {per_minute!r} must be > 0 and burst {burst!r} >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget full buckets rather than grow
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        self._buckets = {
            k: (t, at)
            for k, (t, at) in self._buckets.items()
            if t + (now - at) * self.rate < self.burst
        }


def retry_after(wait_s: float) -> str:
    """The ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
