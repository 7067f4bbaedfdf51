"""A database filled through the real code, and what must survive a backup or an upgrade.

Contract v1 messages of the town's cameras go through the gateway's classify and COPY
writer, and the dispatcher (as ``gridwatch dispatch`` builds it) turns them into cases.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from dispatch.worker import Stats, drain, make_context
from gateway.contract import topic
from gateway.ingest.classify import Received, classify
from gateway.ingest.registry import registry_from_town
from gateway.ingest.writer import write
from gridwatch.town import Town

CONFIG = Path(__file__).resolve().parents[1] / "config"
PREFIX = "gw"
#: Tables whose rows a restore must bring back, with the column that orders them.
TABLES = {
    "events": "event_id",
    "cases": "id",
    "case_history": "id",
    "notifications": "id",
    "device_status": "device_id",
    "schema_migrations": "version",
}


def camera_messages(town: Town, cameras: int, per_camera: int) -> list[Received]:
    """Events of the town's cameras, each camera with its own category, and a status."""
    now = datetime.now(UTC)
    ids = sorted(d.id for d in town.devices.values() if d.kind == "camera")[:cameras]
    categories = ("intrusion", "crowding", "illegal_parking")
    out = []
    for i, device in enumerate(ids):
        for seq in range(1, per_camera + 1):
            body = {
                "v": "1.0",
                "kind": "event",
                "event_id": str(uuid.uuid4()),
                "device_id": device,
                "seq": seq,
                "ts": (now - timedelta(seconds=per_camera - seq)).isoformat(),
                "rule": "drill",
                "category": categories[i % len(categories)],
                "score": 0.8,
            }
            out.append(Received(topic(PREFIX, device, "event"), json.dumps(body).encode(), now))
        status = {
            "v": "1.0",
            "kind": "status",
            "device_id": device,
            "seq": per_camera + 1,
            "ts": now.isoformat(),
            "state": "online",
        }
        out.append(Received(topic(PREFIX, device, "status"), json.dumps(status).encode(), now))
    return out


def counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        out = {}
        for table in TABLES:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            out[table] = int(row[0]) if row else -1
        return out


def digest(dsn: str) -> dict[str, str]:
    """An md5 of every row of each table, in order: equal digests, equal contents."""
    with psycopg.connect(dsn) as conn:
        out = {}
        for table, key in TABLES.items():
            row = conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY {key}), '')) FROM {table} t"
            ).fetchone()
            out[table] = str(row[0]) if row else ""
        return out


def fill(dsn: str, town: Town, *, cameras: int, per_camera: int) -> Stats:
    """Store the cameras' messages as the gateway does, then dispatch them."""
    rows = classify(
        camera_messages(town, cameras, per_camera), prefix=PREFIX, registry=registry_from_town(town)
    )
    if rows.dead_letters:
        raise AssertionError(f"the gateway refused the drill's messages: {rows.dead_letters}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        write(conn, rows)
        return drain(conn, make_context(CONFIG))


#: Columns of the first release that an upgrade must carry over unchanged (later releases
#: may add columns, so whole rows are not compared).
KEY_COLUMNS = {
    "events": ("event_id", "event_id, ts, device_id, seq, category, unit_id, severity"),
    "cases": ("id", "id, unit_id, grid_id, assignee, category, status, accept_by, resolve_by"),
    "case_history": ("id", "id, case_id, action, at"),
    "notifications": ("id", "id, case_id, recipient, kind"),
    "device_status": ("device_id", "device_id, state, seq, ts"),
}


def key_digest(dsn: str) -> dict[str, str]:
    """An md5 per table over :data:`KEY_COLUMNS`, in key order."""
    with psycopg.connect(dsn) as conn:
        out = {}
        for table, (key, cols) in KEY_COLUMNS.items():
            row = conn.execute(
                f"SELECT md5(coalesce(string_agg(ROW({cols})::text, '|' ORDER BY {key}), ''))"
                f" FROM {table}"
            ).fetchone()
            out[table] = str(row[0]) if row else ""
        return out


#: The schema as the catalog sees it, partitions left out (they follow the day).
SCHEMA_QUERIES = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
          AND NOT c.relispartition AND c.relkind IN ('r', 'p', 'v', 'm')
        ORDER BY 1, 2""",
    "indexes": """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        JOIN pg_class c ON c.relname = i.tablename
        WHERE i.schemaname = 'public' AND NOT c.relispartition ORDER BY 1""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' ORDER BY 1, 2""",
    "views": """
        SELECT viewname, md5(definition) FROM pg_views WHERE schemaname = 'public'
        ORDER BY 1""",
    "policies": """
        SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies
        WHERE schemaname = 'public' ORDER BY 1, 2""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND NOT c.relispartition ORDER BY 1, 2""",
    "migrations": "SELECT version, name, variant FROM schema_migrations ORDER BY 1",
}


def schema(dsn: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {k: [tuple(r) for r in conn.execute(q)] for k, q in SCHEMA_QUERIES.items()}
