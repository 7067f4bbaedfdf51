"""The rows dispatch reads and writes, as frozen dataclasses whose fields are the columns.

Read them with ``psycopg.rows.class_row`` and the column list :func:`columns` gives,
so a column added by a later migration does not break a read; write them with
:func:`insert_sql`, which names the same columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql


@dataclass(frozen=True, slots=True)
class _CaseCore:
    """The ``cases`` columns that a case is opened with and that its list shows."""

    id: int
    source: str
    category: str
    severity: int
    status: str
    summary: str | None
    lon: float | None
    lat: float | None
    unit_id: str | None
    grid_id: str | None
    village_id: str | None
    town_id: str | None
    department_id: str | None
    assignee: str | None
    assignee_name: str | None
    opened_at: datetime
    last_event_at: datetime
    # Set when a case opens; next_escalation_at goes back to None once nothing escalates.
    accept_by: datetime | None
    resolve_by: datetime | None
    next_escalation_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CaseSummary(_CaseCore):
    """A case as its list shows it: the list's body is exactly these fields."""

    escalation_level: int
    recurrence: int
    returns: int


@dataclass(frozen=True, slots=True)
class NewCase(_CaseCore):
    """The columns a case is opened with; the database fills in the rest."""

    description: str | None
    assignee_area: str | None
    route_note: str | None
    raised_by: str | None
    device_id: str | None
    first_event_at: datetime


@dataclass(frozen=True, slots=True)
class CaseRow(NewCase):
    """One ``cases`` row (migration 0002): what it was opened with, and what the
    database filled in or the actions since have changed."""

    # CaseSummary's own three: a slotted dataclass takes one base only.
    escalation_level: int
    recurrence: int
    returns: int
    escalated_to: str | None
    escalated_to_name: str | None
    reopens: int
    rejections: int
    duplicate_of: int | None
    mediation_outcome: str | None
    rating: int | None
    satisfied: bool | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class OpenCase:
    """What the merge decision needs of an open case."""

    id: int
    category: str
    status: str
    unit_id: str | None
    lon: float | None
    lat: float | None
    last_event_at: datetime
    village_id: str | None = None  # cases merge only within one village


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """A queued key and its stored event (``dispatch.pending``); the event columns are
    None when the event is gone (retention ran first)."""

    event_id: UUID
    ts: datetime
    received_at: datetime | None
    device_id: str | None
    category: str | None
    severity: int | None
    phase: str | None
    lon: float | None
    lat: float | None
    unit_id: str | None
    summary: str | None
    clock_skewed: bool | None
    rule: str | None
    #: The hashes of the event's evidence: the frame's, and the crop's (``extra``).
    snapshot_sha256: str | None = None
    crop_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """An event or a report about to join or open a case."""

    category: str
    severity: int
    at: datetime  # when it happened, for the merge window
    lon: float | None
    lat: float | None
    unit_id: str | None  # the routed unit once routed; before, the camera's or reporter's
    summary: str | None
    source: str  # 'event' or 'report'
    event_id: UUID | None = None
    ts: datetime | None = None
    phase: str = "start"
    device_id: str | None = None
    raised_by: str | None = None
    description: str | None = None
    #: The event's snapshot hashes (frame, crop), named in the case history.
    snapshots: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseEventRow:
    event_id: UUID
    ts: datetime | None
    case_id: int
    phase: str
    attached_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One ``case_history`` row (the id is the database's)."""

    case_id: int
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    data: Any  # written as a Jsonb wrapping a dict, read back as the dict


@dataclass(frozen=True, slots=True)
class ParticipantRow:
    case_id: int
    person: str
    name: str | None
    role: str  # 'leader', 'liaison' or 'department'
    area_id: str | None
    level: int
    added_at: datetime


@dataclass(frozen=True, slots=True)
class ReminderRow:
    case_id: int
    kind: str  # 'accept' or 'resolve'
    due_at: datetime
    deadline: datetime


#: Columns whose PostgreSQL type is narrower than the field's Python type suggests.
_NARROW: dict[str, str] = {"severity": "smallint", "level": "smallint"}
#: PostgreSQL type of each field annotation used above (``None`` stripped).
_PG_TYPES: dict[str, str] = {
    "int": "bigint",
    "str": "text",
    "float": "float8",
    "bool": "boolean",
    "datetime": "timestamptz",
    "UUID": "uuid",
    "Any": "jsonb",
}


def _array_type(row_type: type[Any], name: str) -> str:
    if name in _NARROW:
        return _NARROW[name] + "[]"
    field = next(f for f in dataclasses.fields(row_type) if f.name == name)
    base = str(field.type).replace(" | None", "")
    return _PG_TYPES[base] + "[]"


def columns(row_type: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(row_type)]


def column_list(row_type: type[Any], prefix: str | None = None) -> sql.Composed:
    """``a, b, c`` (or ``p.a, p.b, p.c``) for ``row_type``'s fields."""
    names = columns(row_type)
    if prefix is None:
        return sql.SQL(", ").join(map(sql.Identifier, names))
    return sql.SQL(", ").join(sql.Identifier(prefix, n) for n in names)


def insert_sql(table: str, row_type: type[Any], suffix: str = "") -> sql.Composed:
    """``INSERT INTO table (cols) SELECT * FROM unnest(%b::type[], ...) suffix``: one
    statement for many rows, its parameters from :func:`as_columns`."""
    names = columns(row_type)
    arrays = sql.SQL(", ").join(
        sql.SQL("%b::{}").format(sql.SQL(_array_type(row_type, n))) for n in names
    )
    return sql.SQL("INSERT INTO {} ({}) {} SELECT * FROM unnest({}) {}").format(
        sql.Identifier(table),
        column_list(row_type),
        sql.SQL("OVERRIDING SYSTEM VALUE" if table == "cases" else ""),
        arrays,
        sql.SQL(suffix),
    )


def as_columns(
    rows: Sequence[Any], row_type: type[Any], renumber: tuple[str, dict[int, int]] | None = None
) -> list[list[Any]]:
    """The rows turned into one list per field, in field order (for ``unnest``).

    ``renumber=(field, ids)``: temporary ids in that field replaced by real ones (a
    column at a time: rebuilding each row cost more than the statement itself).
    """
    names = columns(row_type)
    out = [[getattr(r, name) for r in rows] for name in names]
    if renumber is not None:
        field, ids = renumber
        k = names.index(field)
        out[k] = [ids.get(v, v) for v in out[k]]
    return out
