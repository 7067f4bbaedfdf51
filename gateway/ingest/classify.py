"""Pure validation: one received MQTT message becomes rows to store or a dead letter.

No I/O here, so every rule (unknown device, spoofed device, skewed clock) is
tested without a broker or a database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.contract import (
    Batch,
    ContractError,
    Event,
    MessageKind,
    Reading,
    Status,
    parse_topic,
    parse_with_data,
)
from gateway.db import rows
from gateway.ingest.extra import encode as encode_extra
from gateway.ingest.extra import extra_of, fast_extra
from gateway.ingest.fastpath import FastEvent, FastReading, parse_batch, parse_event

_SPECIAL_BYTES = re.compile(rb"[\\\t\n\r]")
_special = re.compile(r"[\\\t\n\r]").search


def _plain_bytes(payload: bytes) -> bool:
    # Four memchr scans of the whole message beat a regular expression per event.
    return not (b"\\" in payload or b"\t" in payload or b"\n" in payload or b"\r" in payload)


#: Raw bytes kept in a dead letter; the size column keeps the original length.
DEAD_LETTER_BYTES = 64 * 1024
#: How the reasons of dead letters that are not the contract's begin (the metrics label
#: dead letters by them: ``gateway.ingest.metrics.reason_label``).
UNKNOWN_DEVICE = "unknown device"
GATEWAY_ERROR = "gateway error:"
DATABASE_REJECTED = "database rejected the message:"
#: Kinds the gateway accepts from devices (``ack`` flows the other way).
INBOUND_KINDS = frozenset({MessageKind.EVENT, MessageKind.BATCH, MessageKind.STATUS})


@dataclass(frozen=True, slots=True)
class Received:
    """One MQTT message as paho's thread handed it over, stamped with server time."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0
    #: Which broker connection delivered it; acks for an older connection are void.
    generation: int = 0


@dataclass(frozen=True, slots=True)
class EventRow(rows.EventRow):
    """An ``events`` row as stored."""

    #: JSON of the fields without a column (``gateway.ingest.extra``), or None.
    extra: str | None


#: An event as validated: the contract's model, or its fast twin (same attribute names).
EventLike = Event | FastEvent


@dataclass(frozen=True, slots=True)
class EventGroup:
    """The stored events of one message: they share device, unit, server time and clock flag.

    One object per message instead of one row object per event: building a row
    object cost more than validating the event (bulk rates, see fastpath).
    """

    device_id: str
    unit_id: str | None
    received_at: datetime
    skewed: bool
    events: Sequence[EventLike]
    #: Each event's ``events.extra`` as JSON (``gateway.ingest.extra``), or None.
    extras: Sequence[bytes | None]
    #: No backslash, tab, newline or carriage return in the message, the extras or
    #: the unit id, so no field needs COPY escaping (JSON holds those only escaped).
    plain: bool = False

    def rows(self) -> list[EventRow]:
        return [
            event_row(ev, unit_id=self.unit_id, received_at=self.received_at,
                      skewed=self.skewed, extra=None if x is None else x.decode())
            for ev, x in zip(self.events, self.extras, strict=True)
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReadingRow:
    device_id: str
    ts: datetime
    seq: int
    sensor: str
    value: float
    unit: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StatusRow(rows.DeviceStatus):
    """A ``device_status`` row as stored (upserted: the device's latest)."""

    seq: int
    dropped: str
    payload: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_at: datetime
    topic: str
    device_id: str | None
    kind: str | None
    reason: str
    payload: bytes
    payload_size: int


@dataclass(frozen=True)
class Classified:
    """What a set of messages turns into.

    ``classify`` fills ``groups`` (events per message); ``events`` holds rows built
    one by one (tests, tools). The writer stores both.
    """

    events: tuple[EventRow, ...] = ()
    readings: tuple[ReadingRow, ...] = ()
    statuses: tuple[StatusRow, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    groups: tuple[EventGroup, ...] = ()

    def event_count(self) -> int:
        return len(self.events) + sum(len(g.events) for g in self.groups)

    def event_rows(self) -> list[EventRow]:
        """Every event as a row object (the row path and tests; slow at bulk rates)."""
        out = list(self.events)
        for g in self.groups:
            out.extend(g.rows())
        return out

    def seqs_by_device(self) -> dict[str, list[int]]:
        """Sequence numbers of the stored items (events and readings), per device."""
        out: dict[str, list[int]] = {}
        for g in self.groups:
            out.setdefault(g.device_id, []).extend([ev.seq for ev in g.events])
        for ev in self.events:
            out.setdefault(ev.device_id, []).append(ev.seq)
        for rd in self.readings:
            out.setdefault(rd.device_id, []).append(rd.seq)
        return out

    def devices_seen(self) -> set[str]:
        seen = {ev.device_id for ev in self.events}
        seen.update(g.device_id for g in self.groups)
        seen.update(rd.device_id for rd in self.readings)
        seen.update(st.device_id for st in self.statuses)
        return seen


@dataclass
class _Acc:
    groups: list[EventGroup] = field(default_factory=list)
    readings: list[ReadingRow] = field(default_factory=list)
    statuses: list[StatusRow] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def dead_letter(
    msg: Received, reason: str, device_id: str | None = None, kind: str | None = None
) -> DeadLetter:
    return DeadLetter(
        received_at=msg.received_at,
        topic=msg.topic,
        device_id=device_id,
        kind=kind,
        reason=reason,
        payload=msg.payload[:DEAD_LETTER_BYTES],
        payload_size=len(msg.payload),
    )


def is_skewed(edge_ts: datetime, received_at: datetime, max_skew_s: float) -> bool:
    """True when an edge clock differs from server time by more than ``max_skew_s``."""
    return abs((edge_ts - received_at).total_seconds()) > max_skew_s


def event_row(
    ev: EventLike,
    *,
    unit_id: str | None,
    received_at: datetime,
    skewed: bool,
    extra: str | None = None,
) -> EventRow:
    return EventRow(
        event_id=ev.event_id,
        ts=ev.ts,
        received_at=received_at,
        device_id=ev.device_id,
        seq=ev.seq,
        rule=ev.rule,
        category=ev.category,
        severity=ev.severity,
        phase=ev.phase,
        cls=ev.cls,
        score=ev.score,
        track_id=ev.track_id,
        zone=ev.zone,
        box=list(ev.box) if ev.box is not None else None,
        lon=ev.point.lon if ev.point else None,
        lat=ev.point.lat if ev.point else None,
        unit_id=unit_id,
        snapshot_sha256=ev.snapshot.sha256 if ev.snapshot else None,
        snapshot_ref=ev.snapshot.ref if ev.snapshot else None,
        summary=ev.summary,
        clock_skewed=skewed,
        extra=extra,
    )


def reading_row(rd: Reading | FastReading, *, received_at: datetime) -> ReadingRow:
    return ReadingRow(rd.device_id, rd.ts, rd.seq, rd.sensor, rd.value, rd.unit, received_at)


def status_row(st: Status, *, received_at: datetime) -> StatusRow:
    offset = st.clock_offset_s
    if offset is None and not st.will:
        offset = (st.ts - received_at).total_seconds()
    return StatusRow(
        device_id=st.device_id,
        state=st.state,
        seq=st.seq,
        # A will's ts is when the edge connected, older than every status it sent
        # since: the upsert (newer wins) would keep "online" for ever.
        ts=received_at if st.will else st.ts,
        last_seen=received_at,
        fps=st.fps,
        last_frame_ts=st.last_frame_ts,
        sw_version=st.sw_version,
        contract_version=st.contract_version,
        clock_offset_s=offset,
        outbox_items=st.outbox_items,
        dropped=json.dumps(st.dropped),
        detail=st.detail,
        payload=st.model_dump_json(exclude_none=True),
    )


def _classify_into(
    acc: _Acc,
    msg: Received,
    *,
    prefix: str,
    registry: Mapping[str, str | None],
    max_skew_s: float,
) -> None:
    try:
        device_id, kind = parse_topic(prefix, msg.topic)
    except ContractError as exc:
        acc.dead.append(dead_letter(msg, exc.reason))
        return
    if kind not in INBOUND_KINDS:
        acc.dead.append(
            dead_letter(
                msg,
                f"kind {kind.value!r} is not accepted from devices",
                device_id,
                kind.value,
            )
        )
        return
    if device_id not in registry:
        acc.dead.append(
            dead_letter(
                msg,
                f"{UNKNOWN_DEVICE} {device_id!r}: not in the town's devices",
                device_id,
                kind.value,
            )
        )
        return
    unit_id = registry[device_id]
    at = msg.received_at
    if kind is not MessageKind.STATUS:
        fast = (parse_batch if kind is MessageKind.BATCH else parse_event)(msg.payload, device_id)
        if fast is not None:
            # Items in a batch may be old on purpose (an outbox drained after an
            # outage): the message's own send time tells whether the clock is wrong.
            _add_items(acc, device_id, unit_id, at, is_skewed(fast.ts, at, max_skew_s),
                       fast.items, None, _plain_bytes(msg.payload))  # fmt: skip
            return
    try:
        parsed, data = parse_with_data(kind, msg.payload, device_id=device_id)
    except ContractError as exc:
        acc.dead.append(dead_letter(msg, exc.reason, device_id, kind.value))
        return
    plain = _plain_bytes(msg.payload)
    if isinstance(parsed, Event):
        skewed = is_skewed(parsed.ts, at, max_skew_s)
        _add_items(acc, device_id, unit_id, at, skewed, [parsed], [data], plain)
    elif isinstance(parsed, Batch):
        skewed = is_skewed(parsed.ts, at, max_skew_s)
        _add_items(acc, device_id, unit_id, at, skewed, parsed.items, data["items"], plain)
    elif isinstance(parsed, Status):
        acc.statuses.append(status_row(parsed, received_at=at))


def _add_items(
    acc: _Acc,
    device_id: str,
    unit_id: str | None,
    at: datetime,
    skewed: bool,
    items: Sequence[Event | Reading | FastEvent | FastReading],
    raw: Sequence[Any] | None,
    plain: bool,
) -> None:
    """Events of one message as a group; ``raw``: the items' JSON (contract path)."""
    events: list[EventLike] = []
    extras: list[bytes | None] = []
    for i, item in enumerate(items):
        if isinstance(item, FastEvent):
            events.append(item)
            extras.append(fast_extra(item))
        elif isinstance(item, Event):
            events.append(item)
            extra = extra_of(raw[i]) if raw is not None else None
            if extra is not None:
                # The instants as validated (rounded like the fast path), not the text sent.
                for key, value in (("start", item.start), ("end", item.end)):
                    if value is not None:
                        extra[key] = value
            extras.append(encode_extra(extra))
        else:
            acc.readings.append(reading_row(item, received_at=at))
    if events:
        plain = (
            plain
            and not _special(unit_id or "")
            and not any(x is not None and _SPECIAL_BYTES.search(x) for x in extras)
        )
        acc.groups.append(EventGroup(device_id, unit_id, at, skewed, events, extras, plain))


def classify(
    messages: Iterable[Received],
    *,
    prefix: str,
    registry: Mapping[str, str | None],
    max_skew_s: float = 300.0,
) -> Classified:
    """Validate messages against the contract and the device registry (device id -> unit id)."""
    acc = _Acc()
    for msg in messages:
        _classify_into(acc, msg, prefix=prefix, registry=registry, max_skew_s=max_skew_s)
    return Classified(
        readings=tuple(acc.readings),
        statuses=tuple(acc.statuses),
        dead_letters=tuple(acc.dead),
        groups=tuple(acc.groups),
    )
