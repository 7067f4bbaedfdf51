"""What of an event has no column of its own: ``events.extra``.

Every field of the contract's ``Event`` that the API reads has a column; the rest
(``start``, ``end``, a confirmed track's ``score_median`` and ``score_top``, the
snapshot's frame and size) and any optional field that a newer box sends and this
gateway does not know are kept here, as a JSON object,
or NULL when there is nothing (most events). ``v`` and ``kind`` are envelope, not
stored. Storing a full copy of every event instead cost about 30 % of
PostgreSQL's work per event (docs/storage.md). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.ingest.fastpath import FastEvent

#: Top-level keys of an event that have a column (or are envelope).
COLUMN_KEYS = frozenset(
    {"v", "kind", "event_id", "device_id", "seq", "ts", "rule", "category", "severity",
     "phase", "cls", "score", "track_id", "zone", "box", "summary"}
)  # fmt: skip
#: Nested objects, and which of their keys have columns.
NESTED_COLUMNS = {"point": frozenset({"lon", "lat"}), "snapshot": frozenset({"sha256", "ref"})}

_ENCODE = msgspec.json.Encoder().encode


def extra_of(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event's fields without a column, from its JSON object; None when none."""
    out = {
        k: v
        for k, v in event.items()
        if v is not None and k not in COLUMN_KEYS and k not in NESTED_COLUMNS
    }
    for key, stored in NESTED_COLUMNS.items():
        sub = event.get(key)
        if isinstance(sub, dict):
            rest = {k: v for k, v in sub.items() if v is not None and k not in stored}
            if rest:
                out[key] = rest
    return out or None


def fast_extra(ev: FastEvent) -> bytes | None:
    """``extra_of`` for a fast-path event (it has no unknown fields), as JSON."""
    snap = ev.snapshot
    if (
        ev.start is None
        and ev.end is None
        and ev.score_median is None
        and ev.score_top is None
        and ev.crop is None
        and (snap is None or (snap.frame is None and snap.width is None and snap.height is None))
    ):
        return None
    out: dict[str, Any] = {}
    if ev.start is not None:
        out["start"] = ev.start
    if ev.end is not None:
        out["end"] = ev.end
    if ev.score_median is not None:
        out["score_median"] = ev.score_median
    if ev.score_top is not None:
        out["score_top"] = ev.score_top
    if snap is not None:
        sizes = {"frame": snap.frame, "width": snap.width, "height": snap.height}
        sizes = {k: v for k, v in sizes.items() if v is not None}
        if sizes:
            out["snapshot"] = sizes
    if ev.crop is not None:
        # No column: kept whole, as the contract's path keeps it (extra_of).
        crop = {f: getattr(ev.crop, f) for f in ev.crop.__struct_fields__}
        out["crop"] = {k: v for k, v in crop.items() if v is not None}
    return _ENCODE(out)


def encode(extra: dict[str, Any] | None) -> bytes | None:
    return None if extra is None else _ENCODE(extra)
