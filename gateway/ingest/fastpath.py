"""The bulk fast path: events and readings validated by msgspec, with pydantic behind it.

``gateway.contract`` (pydantic) is the contract and gives every rejection its
reason. Validating a 1,000-event batch with it costs about 62,000 instructions
per event (callgrind, ``bench/ingest.py``'s events), most of it building model
objects and running Python validators; this module's twins of the same models
cost about a quarter of that. They are *stricter or equal*: whatever they accept,
the contract accepts with the same values (``tests/gateway/test_fastpath_*.py``
checks that on generated and mutated messages), and anything they refuse, or any
message with a feature they do not model, returns ``None`` so that the caller
takes the contract's path, which accepts it or says why not.

The twins refuse fields they do not know (``forbid_unknown_fields``), so msgspec
reads every byte of a message it accepts (it skips unknown fields without checking
their UTF-8 or their numbers). A message with such fields, from a box newer than
this gateway, takes the contract's path, which keeps an event's unknown fields in
``events.extra``. Timestamps with more than six fraction digits are rounded half
up on the seventh by msgspec; the contract rounds them the same way.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, TypeVar
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from gateway.contract import CONTRACT_MAJOR, MAX_BATCH_ITEMS, MAX_BYTES

_Aware = Annotated[datetime, Meta(tz=True)]
_Short = Annotated[str, Meta(max_length=128)]
_Seq = Annotated[int, Meta(ge=0, le=2**63 - 1)]
_HEX = re.compile(r"[0-9a-f]*")
_ODD_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
#: Floats must be finite (the contract refuses Infinity); msgspec reads 1e400 as out of range.
_Finite = Annotated[float, Meta(ge=-1.7976931348623157e308, le=1.7976931348623157e308)]
_MAJOR = f"{CONTRACT_MAJOR}."
_T = TypeVar("_T")


class FastSnapshot(Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    sha256: Annotated[str, Meta(min_length=64, max_length=64)]
    ref: Annotated[str, Meta(max_length=1024)]
    frame: Annotated[int, Meta(ge=0)] | None = None
    width: Annotated[int, Meta(ge=1, le=16384)] | None = None
    height: Annotated[int, Meta(ge=1, le=16384)] | None = None


class FastPoint(Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    lon: Annotated[float, Meta(ge=-180, le=180)]
    lat: Annotated[float, Meta(ge=-90, le=90)]


class FastEvent(
    Struct, frozen=True, gc=False, forbid_unknown_fields=True, tag_field="kind", tag="event"
):
    """Twin of ``contract.Event``: the same attribute names, so rows are built alike."""

    event_id: UUID
    device_id: str
    seq: _Seq
    ts: _Aware
    rule: _Short
    category: _Short
    v: str = "1.0"
    severity: Annotated[int, Meta(ge=1, le=4)] = 2
    phase: Literal["start", "update", "end"] = "start"
    cls: _Short | None = None
    score: Annotated[float, Meta(ge=0, le=1)] | None = None
    score_median: Annotated[float, Meta(ge=0, le=1)] | None = None
    score_top: Annotated[float, Meta(ge=0, le=1)] | None = None
    track_id: Annotated[int, Meta(ge=0, le=2**63 - 1)] | None = None
    zone: _Short | None = None
    box: tuple[_Finite, _Finite, _Finite, _Finite] | None = None
    point: FastPoint | None = None
    start: _Aware | None = None
    end: _Aware | None = None
    snapshot: FastSnapshot | None = None
    crop: FastSnapshot | None = None
    summary: Annotated[str, Meta(max_length=1000)] | None = None


class FastReading(
    Struct, frozen=True, gc=False, forbid_unknown_fields=True, tag_field="kind", tag="reading"
):
    """Twin of ``contract.Reading``."""

    device_id: str
    seq: _Seq
    ts: _Aware
    sensor: _Short
    value: _Finite
    v: str = "1.0"
    unit: _Short | None = None


class FastBatch(
    Struct, frozen=True, gc=False, forbid_unknown_fields=True, tag_field="kind", tag="batch"
):
    """Twin of ``contract.Batch``."""

    device_id: str
    seq: _Seq
    ts: _Aware
    items: Annotated[list[FastEvent | FastReading], Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]
    v: str = "1.0"


# DecodeError includes ValidationError; invalid UTF-8 in a string, a timestamp past
# year 9999 after rounding and deep nesting raise the others.
_REFUSED = (msgspec.DecodeError, UnicodeDecodeError, ValueError, OverflowError, RecursionError)
_EVENT = msgspec.json.Decoder(FastEvent)
_BATCH = msgspec.json.Decoder(FastBatch)


@dataclass(frozen=True, slots=True)
class FastMessage:
    """A validated event or batch: its send time and its items."""

    ts: datetime
    items: list[FastEvent | FastReading]


def _plain(payload: bytes) -> bool:
    # JSON escapes NUL only as \u0000, and pydantic's parser lets NaN and Infinity
    # through in ignored fields: each sends the message to the contract's path, as
    # does a lone surrogate escape (no UTF-8 form for PostgreSQL).
    if b"NaN" in payload or b"Infinity" in payload:
        return False
    return b"\\u" not in payload or _ODD_ESCAPE.search(payload) is None


def _events_ok(items: list[FastEvent | FastReading]) -> bool:
    """The contract's cross-field rules and the checks msgspec has no cheap form of."""
    shas = []
    for it in items:
        if type(it) is not FastEvent:
            continue
        box = it.box
        if box is not None and (box[2] < box[0] or box[3] < box[1]):
            return False
        if it.start is not None and it.end is not None and it.end < it.start:
            return False
        if it.snapshot is not None:
            shas.append(it.snapshot.sha256)
        if it.crop is not None:
            shas.append(it.crop.sha256)
    # One regular-expression pass over every hash instead of one call per event.
    return not shas or _HEX.fullmatch("".join(shas)) is not None


def _decode(decoder: msgspec.json.Decoder[_T], kind: str, payload: bytes) -> _T | None:
    if len(payload) > MAX_BYTES[kind] or not _plain(payload):
        return None
    try:
        return decoder.decode(payload)
    except _REFUSED:
        return None


def parse_event(payload: bytes, device_id: str) -> FastMessage | None:
    """A single ``event`` message of ``device_id``, or None (take the contract's path)."""
    ev = _decode(_EVENT, "event", payload)
    if ev is None or ev.device_id != device_id or not ev.v.startswith(_MAJOR):
        return None
    return FastMessage(ev.ts, [ev]) if _events_ok([ev]) else None


def parse_batch(payload: bytes, device_id: str) -> FastMessage | None:
    """A ``batch`` message of ``device_id``, or None (take the contract's path)."""
    batch = _decode(_BATCH, "batch", payload)
    if batch is None or batch.device_id != device_id or not batch.v.startswith(_MAJOR):
        return None
    items = batch.items
    last = -1
    for it in items:
        if it.device_id != device_id or it.seq <= last or not it.v.startswith(_MAJOR):
            return None
        last = it.seq
    if batch.seq != last or not _events_ok(items):
        return None
    return FastMessage(batch.ts, items)
