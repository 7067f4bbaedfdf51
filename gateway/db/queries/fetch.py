"""Running a read query into typed rows: the cursor idiom every query module shares."""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg
from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import class_row

T = TypeVar("T")


def fetch_all(
    conn: psycopg.Connection[Any],
    row: type[T],
    query: QueryNoTemplate,
    params: Params | None = None,
) -> list[T]:
    """Every row of ``query``, each a ``row`` built from the columns by name."""
    with conn.cursor(row_factory=class_row(row)) as cur:
        return cur.execute(query, params).fetchall()


def fetch_one(
    conn: psycopg.Connection[Any],
    row: type[T],
    query: QueryNoTemplate,
    params: Params | None = None,
) -> T | None:
    """The first row of ``query`` as a ``row``; None when there is none."""
    with conn.cursor(row_factory=class_row(row)) as cur:
        return cur.execute(query, params).fetchone()
