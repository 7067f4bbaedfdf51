"""Per-client limits on public submissions: a sliding window of recent request times."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` seconds for each key; thread-safe."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"limit={limit!r} window_s={window_s!r}: both must be positive")
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float | None:
        """Record a hit and return None, or refuse it: the seconds until one is allowed."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window_s - now
            hits.append(now)
            if len(self._hits) > 100_000:
                # Forget idle clients so a scan of many addresses cannot grow memory.
                idle = now - self.window_s
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= idle]:
                    del self._hits[k]
            return None
