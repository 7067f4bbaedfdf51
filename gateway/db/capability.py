"""What the connected PostgreSQL can do; decides which migration variants run."""

from __future__ import annotations

import psycopg


def has_timescaledb(conn: psycopg.Connection) -> bool:
    """True when the TimescaleDB extension is installed or can be installed here."""
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None


def timescaledb_installed(conn: psycopg.Connection) -> bool:
    """True when ``CREATE EXTENSION timescaledb`` has run in this database."""
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None
