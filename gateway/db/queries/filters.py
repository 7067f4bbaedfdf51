"""Building a WHERE clause from optional filters with :mod:`psycopg.sql`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import sql


def where(conditions: Iterable[tuple[sql.Composable, Any]]) -> tuple[sql.Composable, list[Any]]:
    """``WHERE a AND b ...`` and its parameters, from (condition, value) pairs.

    A pair whose value is None is left out. Each condition holds its own ``%s``
    placeholders, sent as server-side parameters; a tuple value fills several.
    Values never become SQL text, so a query's plan can be reused.
    """
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for condition, value in conditions:
        if value is None:
            continue
        parts.append(condition)
        params.extend(value if isinstance(value, tuple) else (value,))
    if not parts:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params
