"""Rows of one unit for API tests, written in SQL: cases, an event, a device, a dead letter."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from gateway.contract import topic
from gateway.evidence.store import SnapshotStore, as_store

#: The unit leader the seeded cases are assigned to (and whose participants they list).
ASSIGNEE = "P00006"


@dataclass(frozen=True)
class UnitRows:
    """Rows of one unit: a machine case, a resident's report, an event with a
    snapshot attached to the case, a device status and a dead letter that can be replayed."""

    unit: str
    device: str
    case_id: int
    report_id: int
    event_id: str
    dead_letter_id: int
    snapshot_sha256: str = ""

    @property
    def grid(self) -> str:
        return self.unit.rsplit("-", 1)[0]


def insert_case(
    conn: psycopg.Connection[Any], unit: str, source: str, department: str | None
) -> int:
    """An assigned intrusion case in ``unit``, with its history and leader; its accept
    deadline has passed (so it is overdue), its resolve deadline has not."""
    grid, village = unit.rsplit("-", 1)[0], unit.split("-", 1)[0]
    now = datetime.now(UTC)
    row = conn.execute(
        "INSERT INTO cases (source, category, severity, status, summary, unit_id, grid_id,"
        " village_id, town_id, department_id, assignee, opened_at, first_event_at,"
        " last_event_at, accept_by, resolve_by, updated_at)"
        " VALUES (%s, 'intrusion', 2, 'assigned', '有人闯入', %s, %s, %s, 'T01', %s, %s,"
        " %s, %s, %s, %s, %s, %s) RETURNING id",
        (source, unit, grid, village, department, ASSIGNEE, now, now, now,
         now - timedelta(hours=1), now + timedelta(hours=1), now),
    ).fetchone()  # fmt: skip
    assert row is not None
    case_id = int(row[0])
    conn.execute(
        "INSERT INTO case_history (case_id, at, actor, action, to_status)"
        " VALUES (%s, now(), 'dispatcher', 'created', 'assigned')",
        (case_id,),
    )
    conn.execute(
        "INSERT INTO case_participants (case_id, person, role, area_id, level, added_at)"
        " VALUES (%s, %s, 'leader', %s, 0, now())",
        (case_id, ASSIGNEE, unit),
    )
    return case_id


def seed_unit(
    dsn: str,
    prefix: str,
    unit: str,
    device: str,
    department: str | None,
    snapshot_dir: Path | SnapshotStore | None = None,
) -> UnitRows:
    """Write :class:`UnitRows` for ``unit`` and ``device``; the cases go to ``department``.
    ``prefix`` is the topic prefix the dead letter was received on; the event's snapshot
    is stored in ``snapshot_dir`` when given (its row is written either way)."""
    event_id = str(uuid.uuid4())
    jpeg = b"\xff\xd8" + f"snapshot of {unit} {event_id}".encode() + b"\xff\xd9"
    sha = hashlib.sha256(jpeg).hexdigest()
    if snapshot_dir is not None:
        as_store(snapshot_dir).put(sha, jpeg)
    with psycopg.connect(dsn) as conn:
        case_id = insert_case(conn, unit, "event", department)
        report_id = insert_case(conn, unit, "report", department)
        conn.execute(
            "INSERT INTO events (event_id, ts, device_id, seq, rule, category, unit_id, lon, lat,"
            " score, snapshot_sha256, snapshot_ref, summary, extra) VALUES (%s, now(), %s, 1,"
            " 'intrusion', 'intrusion', %s, 119.0, 25.4, 0.9, %s, 'snap/1.jpg', '闯入', '{}')",
            (event_id, device, unit, sha),
        )
        conn.execute(
            "INSERT INTO snapshots (sha256, device_id, event_id, role, category, nbytes, taken_at)"
            " VALUES (%s, %s, %s, 'frame', 'intrusion', %s, now())",
            (sha, device, event_id, len(jpeg)),
        )
        conn.execute(
            "INSERT INTO case_events (event_id, ts, case_id, phase, attached_at)"
            " SELECT event_id, ts, %s, 'start', now() FROM events WHERE event_id = %s",
            (case_id, event_id),
        )
        conn.execute(
            "INSERT INTO device_status (device_id, state, seq, ts, fps, clock_offset_s, payload)"
            " VALUES (%s, 'online', 1, now(), 5.0, 0.2, '{}')",
            (device,),
        )
        # A whole message (payload_size = its length), so a device admin may replay it.
        payload = b'{"v": "1.0"}'
        row = conn.execute(
            "INSERT INTO dead_letters (topic, device_id, kind, reason, payload, payload_size)"
            " VALUES (%s, %s, 'event', 'unknown device', %s, %s) RETURNING id",
            (topic(prefix, device, "event"), device, payload, len(payload)),
        ).fetchone()
        assert row is not None
    return UnitRows(unit, device, case_id, report_id, event_id, int(row[0]), sha)


def two_grids(dsn: str, prefix: str, snapshot_dir: Path | None = None) -> tuple[UnitRows, UnitRows]:
    """Grid A's unit V01-G01-U02 and grid B's unit V02-G03-U02, whose cases go to the police."""
    a = seed_unit(dsn, prefix, "V01-G01-U02", "cam-0001", None, snapshot_dir)
    b = seed_unit(dsn, prefix, "V02-G03-U02", "cam-0013", "police", snapshot_dir)
    return a, b
