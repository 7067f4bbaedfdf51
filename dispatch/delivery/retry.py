"""Pure delivery decisions: the back-off before the next attempt, what an answer means,
and where a notice stands once an attempt's answers are in."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Outcome(StrEnum):
    """What one channel's answer to one attempt means."""

    ACKNOWLEDGED = "acknowledged"  # the receiver has it: never send on this channel again
    RETRY = "retry"  # a passing fault: try again after the back-off
    REFUSED = "refused"  # a lasting refusal: retrying will not help


class State(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off with jitter: ``first_delay_s * factor**(n-1)``, capped, then
    up to ``jitter`` of it taken off at random so workers that failed together spread out."""

    max_attempts: int = 8
    first_delay_s: float = 10.0
    factor: float = 2.0
    max_delay_s: float = 900.0
    jitter: float = 0.5
    #: How long a claimed notice stays with its worker before another may take it over.
    lease_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts={self.max_attempts}: expected at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter={self.jitter}: expected between 0 and 1")


def delay_s(policy: RetryPolicy, attempt: int, draw: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based); ``draw`` in [0, 1)."""
    if attempt < 1:
        raise ValueError(f"attempt={attempt}: expected 1 or more")
    if not 0.0 <= draw < 1.0:
        raise ValueError(f"draw={draw}: expected a number in [0, 1)")
    # Past ~64 doublings the float overflows; the cap is long reached by then.
    base = policy.first_delay_s * policy.factor ** min(attempt - 1, 64)
    capped = min(policy.max_delay_s, base)
    return capped * (1.0 - policy.jitter * draw)


def http_outcome(status: int) -> Outcome:
    """2xx: delivered. Timeouts, rate limits and server errors pass; other 4xx do not."""
    if 200 <= status < 300:
        return Outcome.ACKNOWLEDGED
    if status in (408, 425, 429) or status >= 500:
        return Outcome.RETRY
    return Outcome.REFUSED


#: PUBACK reason codes (MQTT 5.0 section 3.4.2.1) that no retry can cure.
_PUBACK_REFUSED = frozenset({0x87, 0x90, 0x99})  # not authorized, bad topic, bad payload
_NO_MATCHING_SUBSCRIBERS = 0x10


def puback_outcome(reason: int) -> Outcome:
    """The broker's PUBACK. 0x10 ("no matching subscribers") is a success code, but
    the notice then reaches nobody: the field app never subscribed, so try again."""
    if reason == _NO_MATCHING_SUBSCRIBERS:
        return Outcome.RETRY
    if reason < 0x80:
        return Outcome.ACKNOWLEDGED
    return Outcome.REFUSED if reason in _PUBACK_REFUSED else Outcome.RETRY


@dataclass(frozen=True, slots=True)
class Settled:
    state: State
    next_attempt_at: datetime | None
    #: Failed with no channel ever acknowledging: nobody heard, so the case escalates.
    escalate: bool


def settle(
    channels: Set[str],
    acknowledged: Set[str],
    refused: Set[str],
    attempt: int,
    policy: RetryPolicy,
    now: datetime,
    draw: float,
) -> Settled:
    """Where a notice stands after attempt ``attempt``, from every channel's answers so far.

    Delivered when every channel acknowledged; pending while a channel may still
    answer and attempts remain; otherwise failed.
    """
    open_ = set(channels) - set(acknowledged) - set(refused)
    if not open_ and not refused and channels:
        return Settled(State.DELIVERED, None, escalate=False)
    if open_ and attempt < policy.max_attempts:
        wait = timedelta(seconds=delay_s(policy, attempt, draw))
        return Settled(State.PENDING, now + wait, escalate=False)
    return Settled(State.FAILED, None, escalate=not (set(acknowledged) & set(channels)))
