"""How long snapshots are kept: per category, and never while their case is live.

``snapshot_retention`` (migration 0040) keeps a duration per category, ``'*'`` for
the rest. A snapshot past it is deleted, row and file, unless an event of a case
that is still open (or reopened, returned, rejected and waiting for another
department: anything but closed or merged) holds it: a disputed case keeps its
evidence however old. ``expired`` decides (pure); ``run_retention`` reads and deletes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from dispatch.lifecycle import Status
from gateway.evidence.store import SnapshotStore, as_store

#: Case states that release their evidence to retention; every other state holds it.
RELEASING = frozenset({Status.CLOSED, Status.DUPLICATE})
#: The category key of the default duration.
DEFAULT = "*"


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    sha256: str
    category: str | None
    taken_at: datetime


@dataclass(frozen=True, slots=True)
class RetentionResult:
    deleted: tuple[str, ...]
    held: tuple[str, ...]


def keep_for(category: str | None, policy: Mapping[str, timedelta]) -> timedelta:
    """The category's duration, else the default; KeyError naming both when neither."""
    if category is not None and category in policy:
        return policy[category]
    try:
        return policy[DEFAULT]
    except KeyError as exc:
        raise KeyError(
            f"snapshot_retention has no row for category {category!r} nor {DEFAULT!r}"
        ) from exc


def expired(
    rows: Iterable[StoredSnapshot],
    policy: Mapping[str, timedelta],
    held: set[str],
    now: datetime,
) -> tuple[list[str], list[str]]:
    """(to delete, held past retention): the hashes past their category's duration."""
    out: list[str] = []
    kept: list[str] = []
    for r in rows:
        if r.taken_at + keep_for(r.category, policy) > now:
            continue
        (kept if r.sha256 in held else out).append(r.sha256)
    return out, kept


_HELD = (
    "SELECT DISTINCT s.sha256 FROM snapshots s"
    " JOIN case_events ce ON ce.event_id = s.event_id"
    " JOIN cases c ON c.id = ce.case_id"
    " WHERE s.sha256 = ANY(%s) AND NOT (c.status = ANY(%s))"
)


def run_retention(
    conn: psycopg.Connection[Any],
    root: Path | SnapshotStore,
    now: datetime,
    *,
    limit: int = 10_000,
) -> RetentionResult:
    """Delete up to ``limit`` expired, unheld snapshots (rows first, then files)."""
    policy = {str(c): k for c, k in conn.execute("SELECT category, keep FROM snapshot_retention")}
    if not policy:
        return RetentionResult((), ())
    oldest = now - min(policy.values())
    rows = [
        StoredSnapshot(sha, cat, ts)
        for sha, cat, ts in conn.execute(
            "SELECT sha256, category, taken_at FROM snapshots WHERE taken_at <= %s"
            " ORDER BY taken_at LIMIT %s",
            (oldest, limit),
        )
    ]
    shas = [r.sha256 for r in rows]
    held = (
        {str(r[0]) for r in conn.execute(_HELD, (shas, [s.value for s in RELEASING]))}
        if shas
        else set()
    )
    doomed, kept = expired(rows, policy, held, now)
    if doomed:
        with conn.transaction():
            conn.execute("DELETE FROM snapshots WHERE sha256 = ANY(%s)", (doomed,))
    # After the commit: a crash in between leaves a file without a row, which the API
    # never serves, rather than a row whose file is gone.
    store = as_store(root)
    for sha in doomed:
        store.remove(sha)
    return RetentionResult(tuple(doomed), tuple(kept))
