"""The acknowledgement mark: highest sequence number committed without a gap."""

from __future__ import annotations

import pytest

from gateway.ingest.marks import Mark, advance, first_mark, gaps


@pytest.mark.parametrize(
    ("start", "seqs", "committed", "pending"),
    [
        (Mark(-1), [0, 1, 2], 2, ()),
        (Mark(-1), [1, 2], -1, (1, 2)),  # 0 missing: nothing acknowledged
        (Mark(4), [7, 6], 4, (6, 7)),
        (Mark(4, (6, 7)), [5], 7, ()),  # the gap fills: jump over the pending ones
        (Mark(4, (6, 7)), [9], 4, (6, 7, 9)),
        (Mark(10), [3, 10, 8], 10, ()),  # at or below the mark: redeliveries change nothing
        (Mark(10), [11, 11, 12], 12, ()),  # duplicates in one batch
        (Mark(10), [], 10, ()),
    ],
)
def test_advance(start: Mark, seqs: list[int], committed: int, pending: tuple[int, ...]) -> None:
    assert advance(start, seqs) == Mark(committed, pending)


def test_first_batch_of_a_device_starts_just_below_its_lowest_seq() -> None:
    assert advance(first_mark([17, 18]), [18, 17]) == Mark(18)
    assert advance(first_mark([20, 22]), [20, 22]) == Mark(20, (22,))


def test_gaps_are_the_missing_ranges() -> None:
    assert gaps(Mark(4, (6, 7, 10))) == [(5, 5), (8, 9)]
    assert gaps(Mark(4)) == []


def test_too_many_pending_forgets_the_highest_never_acknowledges_a_gap() -> None:
    mark = advance(Mark(0), range(2, 20), max_pending=5)
    assert mark == Mark(0, (2, 3, 4, 5, 6))
    assert advance(mark, [1]).committed == 6
