"""Telling a device why its messages were refused, at most once a minute per device.

A box missing from the registry, or sending what the contract refuses, would
otherwise be dead-lettered in silence every time its outbox replays. The
consumer hands each dead letter with a device id to :class:`RefusalLimiter`,
which says when to answer on the device's ``refusal`` topic and how many
refusals that answer covers. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gateway.contract import Refusal

#: Devices remembered at most; a flood of spoofed ids must not grow memory.
MAX_DEVICES = 10_000


@dataclass
class RefusalLimiter:
    every_s: float = 60.0
    _last: dict[str, float] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=dict)

    def refused(self, device_id: str, now: float) -> int | None:
        """Count one refusal; the number to report when an answer is due now, else None."""
        self._count[device_id] = self._count.get(device_id, 0) + 1
        last = self._last.get(device_id)
        if last is not None and now - last < self.every_s:
            return None
        if len(self._last) >= MAX_DEVICES:
            self._forget(now)
        self._last[device_id] = now
        return self._count.pop(device_id)

    def _forget(self, now: float) -> None:
        old = [d for d, t in self._last.items() if now - t >= self.every_s]
        for d in old or list(self._last):
            del self._last[d]
            self._count.pop(d, None)


def refusal(
    device_id: str, kind: str | None, reason: str, count: int, retry_after_s: float, ts: datetime
) -> Refusal:
    return Refusal.model_validate(
        {
            "device_id": device_id,
            "ts": ts,
            "reason": reason[:2000],
            "refused_kind": kind,
            "refused": count,
            "retry_after_s": retry_after_s,
        }
    )
