"""Write classified rows in one transaction and advance the acknowledgement marks.

Bulk path (default): events go by COPY straight into ``events``, inside a
savepoint, and their keys into ``dispatch_batches`` (migration 0006: a row per
1,000 keys, not per event). A batch that repeats a stored event (a redelivery
after a crash, or a replica that stored it first) breaks the unique key: the
savepoint is rolled back and the batch takes the staging path, COPY into a
temporary table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, which
stores and queues only the new rows. Readings always take the staging path
(binary COPY). A batch of thousands of rows costs a few round trips. The
``copy=False`` path (row statements) serves servers without COPY, such as the
WASM TimescaleDB of the tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter

import msgspec
import psycopg
from msgspec import Raw

from gateway.ingest.classify import (
    Classified,
    DeadLetter,
    EventGroup,
    EventRow,
    ReadingRow,
    StatusRow,
)
from gateway.ingest.marks import Mark, advance, first_mark, gaps

Hook = Callable[[], None]

_EVENT_COLS = [f.name for f in fields(EventRow)]
_READING_COLS = [f.name for f in fields(ReadingRow)]
_STATUS_COLS = [f.name for f in fields(StatusRow)]
_DEAD_COLS = [f.name for f in fields(DeadLetter)]
# dataclasses.astuple deep-copies every field: far too slow per row at bulk rates.
_event_tuple = attrgetter(*_EVENT_COLS)
_reading_tuple = attrgetter(*_READING_COLS)
_status_tuple = attrgetter(*_STATUS_COLS)
_dead_tuple = attrgetter(*_DEAD_COLS)


def _values(cols: list[str], casts: dict[str, str] | None = None) -> str:
    casts = casts or {}
    return ", ".join(f"%s{casts.get(c, '')}" for c in cols)


#: Keys per dispatch_batches row. The dispatcher reads a row in slices, and each slice
#: reads the whole array: a transaction of 500,000 small events in one row would make
#: the dispatcher copy 12 MB for every 100 events it takes.
QUEUE_ROW_KEYS = 1000
# The keys of the events a statement stored, as dispatch_batches rows of at most
# QUEUE_ROW_KEYS keys in time order: the dispatcher sees exactly the events that
# exist, each once. Both arrays of a row in one order.
_ENQUEUE_INS = (
    "INSERT INTO dispatch_batches (event_ids, ts)"
    " SELECT array_agg(event_id ORDER BY ts, event_id), array_agg(ts ORDER BY ts, event_id)"
    " FROM (SELECT event_id, ts,"
    f" (row_number() OVER (ORDER BY ts, event_id) - 1) / {QUEUE_ROW_KEYS} AS chunk FROM ins) c"
    " GROUP BY chunk ORDER BY chunk"
)
INSERT_EVENT = (
    f"WITH ins AS (INSERT INTO events ({', '.join(_EVENT_COLS)})"
    f" VALUES ({_values(_EVENT_COLS, {'extra': '::jsonb'})})"
    " ON CONFLICT DO NOTHING RETURNING event_id, ts) " + _ENQUEUE_INS
)
INSERT_READING = (
    f"INSERT INTO readings ({', '.join(_READING_COLS)}) VALUES ({_values(_READING_COLS)})"
    " ON CONFLICT DO NOTHING"
)
_STATUS_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in _STATUS_COLS if c != "device_id")
# A retained status replayed on reconnect is older than what is stored: keep the newer.
UPSERT_STATUS = (
    f"INSERT INTO device_status ({', '.join(_STATUS_COLS)})"
    f" VALUES ({_values(_STATUS_COLS, {'dropped': '::jsonb', 'payload': '::jsonb'})})"
    f" ON CONFLICT (device_id) DO UPDATE SET {_STATUS_UPDATE}"
    " WHERE EXCLUDED.ts >= device_status.ts"
)
# Binary COPY of readings needs the PostgreSQL type of every column, in the dataclass order.
_READING_TYPES = ["text", "timestamptz", "int8", "text", "float8", "text", "timestamptz"]
assert len(_READING_TYPES) == len(_READING_COLS)

# Staging tables live per connection and are emptied at every commit.
_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS events_stage (LIKE events INCLUDING DEFAULTS)"
    " ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS readings_stage (LIKE readings INCLUDING DEFAULTS)"
    " ON COMMIT DELETE ROWS",
)
COPY_EVENTS = f"COPY events_stage ({', '.join(_EVENT_COLS)}) FROM STDIN"
COPY_EVENTS_DIRECT = f"COPY events ({', '.join(_EVENT_COLS)}) FROM STDIN"
# The bulk path writes CSV made by msgspec (below); JSON's null is its NULL.
_CSV = " (FORMAT csv, NULL 'null')"
COPY_EVENTS_CSV = COPY_EVENTS + _CSV
COPY_EVENTS_DIRECT_CSV = COPY_EVENTS_DIRECT + _CSV
ENQUEUE = "INSERT INTO dispatch_batches (event_ids, ts) VALUES (%s::uuid[], %s::timestamptz[])"
COPY_READINGS = f"COPY readings_stage ({', '.join(_READING_COLS)}) FROM STDIN (FORMAT BINARY)"
MERGE_EVENTS = (
    f"WITH ins AS (INSERT INTO events ({', '.join(_EVENT_COLS)})"
    f" SELECT {', '.join(_EVENT_COLS)} FROM events_stage"
    " ON CONFLICT DO NOTHING RETURNING event_id, ts),"
    f" q AS ({_ENQUEUE_INS})"
    " SELECT count(*) FROM ins"
)
MERGE_READINGS = (
    f"INSERT INTO readings ({', '.join(_READING_COLS)})"
    f" SELECT {', '.join(_READING_COLS)} FROM readings_stage ON CONFLICT DO NOTHING"
)

INSERT_DEAD = f"INSERT INTO dead_letters ({', '.join(_DEAD_COLS)}) VALUES ({_values(_DEAD_COLS)})"


@dataclass(frozen=True)
class WriteResult:
    """What one committed transaction stored."""

    new_events: int
    duplicate_events: int
    readings: int
    statuses: int
    dead_letters: int
    #: Device id -> highest seq committed without a gap, for devices in this batch.
    marks: dict[str, int]
    #: Device id -> missing (first, last) ranges below its highest committed seq.
    gaps: dict[str, list[tuple[int, int]]]


def _advance_marks(
    cur: psycopg.Cursor, seqs: dict[str, list[int]]
) -> tuple[dict[str, int], dict[str, list[tuple[int, int]]]]:
    if not seqs:
        return {}, {}
    devices = sorted(seqs)  # one lock order for every replica: no deadlocks
    cur.executemany(
        "INSERT INTO ingest_marks (device_id, committed_seq) VALUES (%s, %s)"
        " ON CONFLICT (device_id) DO NOTHING",
        [(d, first_mark(seqs[d]).committed) for d in devices],
    )
    cur.execute(
        "SELECT device_id, committed_seq, pending FROM ingest_marks"
        " WHERE device_id = ANY(%s) ORDER BY device_id FOR UPDATE",
        (devices,),
    )
    current = {d: Mark(int(c), tuple(p or ())) for d, c, p in cur.fetchall()}
    marks: dict[str, int] = {}
    missing: dict[str, list[tuple[int, int]]] = {}
    updates = []
    for device in devices:
        new = advance(current[device], seqs[device])
        marks[device] = new.committed
        if new.pending:
            missing[device] = gaps(new)
        updates.append((new.committed, list(new.pending), device))
    cur.executemany(
        "UPDATE ingest_marks SET committed_seq = %s, pending = %s, updated_at = now()"
        " WHERE device_id = %s",
        updates,
    )
    return marks, missing


# COPY's text format: backslash, tab, newline and carriage return are escaped.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_BOOL = {True: "t", False: "f"}


def _text(value: str | None) -> str:
    if value is None:
        return _NULL
    if _COPY_SPECIAL.search(value) is None:
        return value
    return value.translate(_COPY_ESCAPES)


def _num(value: float | None) -> str:
    return _NULL if value is None else repr(value)


def _box(box: list[float] | None) -> str:
    return _NULL if box is None else "{" + ",".join(map(repr, box)) + "}"


def _event_line(r: EventRow, eid: str, ts: str, at: str) -> str:
    # Checking once whether any text field needs escaping is cheaper than escaping
    # each (a JSON payload holds a backslash whenever its strings hold anything special).
    probe = (
        f"{r.device_id}{r.rule}{r.category}{r.phase}{r.cls}{r.zone}{r.unit_id}"
        f"{r.snapshot_sha256}{r.snapshot_ref}{r.summary}{r.extra}"
    )
    if "\\" in probe or "\t" in probe or "\n" in probe or "\r" in probe:
        return _escaped_event_line(r, eid, ts, at)
    n = _NULL
    return (
        f"{eid}\t{ts}\t{at}\t{r.device_id}\t{r.seq}\t{r.rule}"
        f"\t{r.category}\t{r.severity}\t{r.phase}\t{n if r.cls is None else r.cls}"
        f"\t{n if r.score is None else repr(r.score)}"
        f"\t{n if r.track_id is None else r.track_id}\t{n if r.zone is None else r.zone}"
        f"\t{_box(r.box)}\t{n if r.lon is None else repr(r.lon)}"
        f"\t{n if r.lat is None else repr(r.lat)}\t{n if r.unit_id is None else r.unit_id}"
        f"\t{n if r.snapshot_sha256 is None else r.snapshot_sha256}"
        f"\t{n if r.snapshot_ref is None else r.snapshot_ref}"
        f"\t{n if r.summary is None else r.summary}\t{_BOOL[r.clock_skewed]}"
        f"\t{n if r.extra is None else r.extra}\n"
    )


def _escaped_event_line(r: EventRow, eid: str, ts: str, at: str) -> str:
    t = _text
    return (
        f"{eid}\t{ts}\t{at}\t{t(r.device_id)}\t{r.seq}"
        f"\t{t(r.rule)}\t{t(r.category)}\t{r.severity}\t{t(r.phase)}\t{t(r.cls)}"
        f"\t{_num(r.score)}\t{_NULL if r.track_id is None else r.track_id}\t{t(r.zone)}"
        f"\t{_box(r.box)}\t{_num(r.lon)}\t{_num(r.lat)}\t{t(r.unit_id)}"
        f"\t{t(r.snapshot_sha256)}\t{t(r.snapshot_ref)}\t{t(r.summary)}"
        f"\t{_BOOL[r.clock_skewed]}\t{t(r.extra)}\n"
    )


_ENCODE = msgspec.json.Encoder().encode
_BOX = "{%r,%r,%r,%r}"


def _csv_group(g: EventGroup, out: list[bytes]) -> None:
    """One CSV record per event of a plain group, each made by msgspec in C.

    A JSON array of scalars, brackets cut off, is a CSV record when no string in it
    needed a JSON escape, which is what ``plain`` promises (the caller checks the
    result for a backslash all the same): formatting the UUID, times and floats in
    Python cost several times more. ``extra`` goes in as a quoted CSV field.
    """
    at, dev, unit, skewed = g.received_at, g.device_id, g.unit_id, g.skewed
    for ev, x in zip(g.events, g.extras, strict=True):
        box, point, snap = ev.box, ev.point, ev.snapshot
        record = (
            ev.event_id, ev.ts, at, dev, ev.seq, ev.rule, ev.category, ev.severity, ev.phase,
            ev.cls, ev.score, ev.track_id, ev.zone, None if box is None else _BOX % box,
            None if point is None else point.lon, None if point is None else point.lat, unit,
            None if snap is None else snap.sha256, None if snap is None else snap.ref,
            ev.summary, skewed, None if x is None else Raw(b'"' + x.replace(b'"', b'""') + b'"'),
        )  # fmt: skip
        out.append(_ENCODE(record)[1:-1])


def event_lines(events: Iterable[EventRow]) -> str:
    """COPY text of event rows (``_EVENT_COLS`` order): the path for anything unusual.

    Joined in Python: binary ``write_row`` dumps the ``real[]`` box and the JSON
    through psycopg's Python dumpers.
    """
    stamps: dict[datetime, str] = {}  # one received_at per message: format it once
    lines = []
    for r in events:
        at = stamps.get(r.received_at)
        if at is None:
            at = stamps[r.received_at] = r.received_at.isoformat()
        lines.append(_event_line(r, str(r.event_id), r.ts.isoformat(), at))
    return "".join(lines)


@dataclass(frozen=True)
class EventCopy:
    """What one transaction sends: CSV records, text lines, and the events' keys as
    pairs of PostgreSQL array literals (event ids, times), one pair per dispatch_batches
    row of at most ``QUEUE_ROW_KEYS``."""

    csv: bytes
    text: str
    queue: list[tuple[str, str]]


def event_copy(rows: Classified) -> EventCopy:
    """The COPY data of every event in ``rows``: plain groups as CSV, the rest as text."""
    records: list[bytes] = []
    others = list(rows.events)
    for g in rows.groups:
        if g.plain:
            _csv_group(g, records)
        else:
            others.extend(g.rows())
    csv = b"\n".join(records) + b"\n" if records else b""
    if b"\\" in csv:  # an escape after all: let the text path quote it
        others = rows.event_rows()
        csv = b""
    # Every event is queued for dispatch, whichever COPY format carries it.
    ids = [r.event_id for r in rows.events]
    ids.extend([ev.event_id for g in rows.groups for ev in g.events])
    stamps = [r.ts for r in rows.events]
    stamps.extend([ev.ts for g in rows.groups for ev in g.events])
    step = QUEUE_ROW_KEYS
    queue = [
        (_array(ids[i : i + step]), _array(stamps[i : i + step])) for i in range(0, len(ids), step)
    ]
    return EventCopy(csv, event_lines(others), queue)


def _array(values: Sequence[object]) -> str:
    # A JSON array of quoted UUIDs or times is a PostgreSQL array literal once its
    # brackets become braces: neither holds a quote, a backslash or a brace.
    return "{" + _ENCODE(values)[1:-1].decode() + "}"


def send_copy(cur: psycopg.Cursor, data: EventCopy, *, csv_sql: str, text_sql: str) -> None:
    """COPY ``data`` (its CSV, then its text lines) with these two statements."""
    if data.csv:
        with cur.copy(csv_sql) as copy:
            copy.write(data.csv)
    if data.text:
        with cur.copy(text_sql) as copy:
            copy.write(data.text)


def _copy_events(cur: psycopg.Cursor, rows: Classified) -> int:
    data = event_copy(rows)
    # Almost every batch is new: COPY it straight into the table and queue its keys.
    # A redelivered or concurrently stored event breaks the unique key; then the
    # savepoint undoes the COPY and the staging path stores and queues only new rows.
    try:
        with cur.connection.transaction():
            send_copy(cur, data, csv_sql=COPY_EVENTS_DIRECT_CSV, text_sql=COPY_EVENTS_DIRECT)
        cur.executemany(ENQUEUE, data.queue)
        return rows.event_count()
    except psycopg.errors.UniqueViolation:
        pass
    send_copy(cur, data, csv_sql=COPY_EVENTS_CSV, text_sql=COPY_EVENTS)
    cur.execute(MERGE_EVENTS)
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _copy_readings(cur: psycopg.Cursor, readings: tuple[ReadingRow, ...]) -> None:
    with cur.copy(COPY_READINGS) as copy:
        copy.set_types(_READING_TYPES)
        for r in readings:
            copy.write_row(_reading_tuple(r))
    cur.execute(MERGE_READINGS)


def write(
    conn: psycopg.Connection, rows: Classified, *, copy: bool = True, hook: Hook | None = None
) -> WriteResult:
    """Store everything in ``rows`` in one transaction; psycopg.Error leaves nothing stored.

    ``hook`` runs inside the transaction just before the commit (fault tests).
    """
    n_events = rows.event_count()
    if copy and (n_events or rows.readings):
        with conn.cursor() as cur:
            for ddl in _STAGE_DDL:
                cur.execute(ddl)
    with conn.transaction(), conn.cursor() as cur:
        new_events = 0
        if n_events:
            if copy:
                new_events = _copy_events(cur, rows)
            else:
                cur.executemany(INSERT_EVENT, [_event_tuple(r) for r in rows.event_rows()])
                new_events = max(cur.rowcount, 0)
        if rows.readings:
            if copy:
                _copy_readings(cur, rows.readings)
            else:
                cur.executemany(INSERT_READING, [_reading_tuple(r) for r in rows.readings])
        if rows.statuses:
            cur.executemany(UPSERT_STATUS, [_status_tuple(r) for r in rows.statuses])
        if rows.dead_letters:
            cur.executemany(INSERT_DEAD, [_dead_tuple(r) for r in rows.dead_letters])
        seen = sorted(rows.devices_seen() - {s.device_id for s in rows.statuses})
        if seen:
            # Any message proves the device is alive, not only its heartbeat.
            cur.execute(
                "UPDATE device_status SET last_seen = greatest(last_seen, now())"
                " WHERE device_id = ANY(%s)",
                (seen,),
            )
        marks, missing = _advance_marks(cur, rows.seqs_by_device())
        if hook is not None:
            hook()
    return WriteResult(
        new_events=new_events,
        duplicate_events=n_events - new_events,
        readings=len(rows.readings),
        statuses=len(rows.statuses),
        dead_letters=len(rows.dead_letters),
        marks=marks,
        gaps=missing,
    )
