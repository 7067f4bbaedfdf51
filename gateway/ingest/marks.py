"""The per-device acknowledgement mark: highest sequence number committed without a gap.

Pure functions; the writer keeps the state in ``ingest_marks`` so that several
gateway replicas on a shared subscription agree on it. Only events and readings
count (the items an edge box keeps in its outbox); status messages do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Committed numbers above a gap are remembered up to this many per device;
#: beyond it the highest are forgotten, which only delays the mark (the edge
#: sends them again), never advances it past something missing.
MAX_PENDING = 10_000


@dataclass(frozen=True)
class Mark:
    """``committed``: highest seq with everything up to it stored (-1: none yet).

    ``pending``: stored seqs above ``committed + 1``, sorted, waiting for the gap to fill.
    """

    committed: int
    pending: tuple[int, ...] = ()


def first_mark(seqs: Iterable[int]) -> Mark:
    """The mark before a device's first batch: just below the lowest seq seen.

    A device first seen at seq 17 (its history predates this database) must not
    wait forever for 0..16.
    """
    return Mark(min(seqs) - 1)


def advance(mark: Mark, seqs: Iterable[int], max_pending: int = MAX_PENDING) -> Mark:
    """The mark after ``seqs`` were committed; numbers at or below the mark change nothing."""
    above = set(mark.pending)
    above.update(s for s in seqs if s > mark.committed)
    committed = mark.committed
    while committed + 1 in above:
        committed += 1
        above.discard(committed)
    rest = sorted(above)[:max_pending]
    return Mark(committed, tuple(rest))


def gaps(mark: Mark) -> list[tuple[int, int]]:
    """Missing ranges (first, last), inclusive, between the mark and the highest pending seq."""
    out: list[tuple[int, int]] = []
    expected = mark.committed + 1
    for seq in mark.pending:
        if seq > expected:
            out.append((expected, seq - 1))
        expected = seq + 1
    return out
