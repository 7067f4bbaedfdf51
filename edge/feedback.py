"""What the edge does with the gateway's Refusal: remember why, back off, say so.

A refused device (missing from the gateway's registry, or sending what the
contract refuses) stops sending events and status for ``retry_after_s``,
doubling on each refusal in a row up to an hour, and starts afresh once the
gateway commits its messages again. The reason shows in the device's status
``detail``, its ``dropped.refused`` count and the box's ``/metrics``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from gateway.contract import Refusal, Status

MAX_BACKOFF_S = 3600.0


def next_backoff(previous_s: float, retry_after_s: float) -> float:
    """At least what the gateway asks; twice the last pause while refusals keep coming."""
    return min(MAX_BACKOFF_S, max(retry_after_s, 2 * previous_s, 1.0))


@dataclass
class RefusalState:
    """One device's refusals; written on paho's thread, read by the courier and status loop."""

    last: Refusal | None = None
    refused: int = 0
    backoff_s: float = 0.0
    until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_refusal(self, msg: Refusal, now: float) -> float:
        """Record a Refusal received at monotonic ``now``; the pause it starts."""
        with self._lock:
            self.last = msg
            self.refused += msg.refused
            self.backoff_s = next_backoff(self.backoff_s, msg.retry_after_s)
            self.until = now + self.backoff_s
            return self.backoff_s

    def accepted(self) -> None:
        """The gateway committed this device's messages again."""
        with self._lock:
            self.last, self.backoff_s, self.until = None, 0.0, 0.0

    def paused(self, now: float) -> bool:
        return now < self.until

    @property
    def reason(self) -> str | None:
        last = self.last
        return None if last is None else last.reason


def with_refusal(status: Status, state: RefusalState) -> Status:
    """The status, telling of the gateway's refusal when there is one."""
    dropped = status.dropped | {"refused": state.refused} if state.refused else status.dropped
    reason = state.reason
    detail = status.detail if reason is None else f"refused by the gateway: {reason}"[:2000]
    return status.model_copy(update={"dropped": dropped, "detail": detail})
