"""Open311's SQL: the request rows it keeps, and cases read as service requests.

A case may hold several Open311 requests (two residents report the same thing and
the second joins the first's case); it is shown with the first one's service,
address and media.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from dispatch import rows as cases
from dispatch.rows import column_list
from gateway.open311.documents import CaseRow
from gateway.open311.forms import CreateRequest
from gateway.open311.query import RequestQuery
from gateway.open311.states import STATUSES_OF

_CASE_COLUMNS = sql.SQL("{case}, r.service_code, r.address_string, r.media_url").format(
    case=column_list(cases.CaseRow, "c")
)

_FIRST_REQUEST = sql.SQL(
    """LEFT JOIN LATERAL (
        SELECT o.service_code, o.address_string, o.media_url FROM open311_requests o
        WHERE o.case_id = c.id ORDER BY o.received_at, o.token LIMIT 1
    ) r ON true"""
)


@dataclass(frozen=True, slots=True)
class Stored:
    """An Open311 request row: its token and the case it opened or joined (None: not yet)."""

    token: str
    case_id: int | None
    service_code: str
    account_id: str | None


def new_token() -> str:
    return secrets.token_urlsafe(16)


def claim(
    conn: psycopg.Connection[Any],
    req: CreateRequest,
    *,
    client: str,
    idempotency_key: str | None,
    at: datetime,
) -> tuple[Stored, bool]:
    """Store the request; (row, True) when new, (the earlier row, False) for a replay."""
    token = new_token()
    row = conn.execute(
        """
        INSERT INTO open311_requests (token, service_code, client, idempotency_key,
            address_string, address_id, media_url, first_name, last_name, email, phone,
            device_id, account_id, attributes, received_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (client, idempotency_key) DO NOTHING
        RETURNING token
        """,
        (
            token,
            req.service.code,
            client,
            idempotency_key,
            req.address_string,
            req.address_id,
            req.media_url,
            req.first_name,
            req.last_name,
            req.email,
            req.phone,
            req.device_id,
            req.account_id,
            Jsonb({k: list(v) for k, v in req.attributes.items()}),
            at,
        ),
    ).fetchone()
    if row is not None:
        return Stored(token, None, req.service.code, req.account_id), True
    with conn.cursor(row_factory=class_row(Stored)) as cur:
        earlier = cur.execute(
            "SELECT token, case_id, service_code, account_id FROM open311_requests"
            " WHERE client = %s AND idempotency_key = %s",
            (client, idempotency_key),
        ).fetchone()
    assert earlier is not None, "a conflicting row must exist"
    return earlier, False


def link(conn: psycopg.Connection[Any], token: str, case_id: int) -> None:
    conn.execute("UPDATE open311_requests SET case_id = %s WHERE token = %s", (case_id, token))


def by_token(conn: psycopg.Connection[Any], token: str) -> Stored | None:
    with conn.cursor(row_factory=class_row(Stored)) as cur:
        return cur.execute(
            "SELECT token, case_id, service_code, account_id FROM open311_requests"
            " WHERE token = %s",
            (token,),
        ).fetchone()


def fetch_cases(
    conn: psycopg.Connection[Any], query: RequestQuery, *, residents_only: bool = False
) -> list[CaseRow]:
    """The cases a ``GET requests`` selects, newest first, at most ``query.limit``.

    ``residents_only`` (a public reader) keeps the cases raised through Open311.
    """
    where: list[sql.Composable] = []
    params: list[Any] = []
    if residents_only:
        where.append(sql.SQL("r.service_code IS NOT NULL"))
    if query.ids is not None:
        # The spec: service_request_id overrides all other arguments.
        where.append(sql.SQL("c.id = ANY(%s)"))
        params.append(list(query.ids))
    else:
        where.append(sql.SQL("c.opened_at >= %s AND c.opened_at <= %s"))
        params += [query.start, query.end]
        if query.service_codes is not None:
            where.append(sql.SQL("COALESCE(r.service_code, c.category) = ANY(%s)"))
            params.append(list(query.service_codes))
        if query.statuses is not None:
            states = sorted({s.value for base in query.statuses for s in STATUSES_OF[base]})
            where.append(sql.SQL("c.status = ANY(%s)"))
            params.append(states)
    stmt = sql.SQL(
        "SELECT {cols} FROM cases c {first} WHERE {where}"
        " ORDER BY c.opened_at DESC, c.id DESC LIMIT {limit}"
    ).format(
        cols=_CASE_COLUMNS,
        first=_FIRST_REQUEST,
        where=sql.SQL(" AND ").join(where),
        limit=sql.Literal(query.limit),
    )
    with conn.cursor(row_factory=class_row(CaseRow)) as cur:
        return cur.execute(stmt, params).fetchall()


def fetch_case(
    conn: psycopg.Connection[Any], case_id: int, *, residents_only: bool = False
) -> CaseRow | None:
    only = sql.SQL(" AND r.service_code IS NOT NULL" if residents_only else "")
    stmt = sql.SQL("SELECT {cols} FROM cases c {first} WHERE c.id = %s{only}").format(
        cols=_CASE_COLUMNS, first=_FIRST_REQUEST, only=only
    )
    with conn.cursor(row_factory=class_row(CaseRow)) as cur:
        return cur.execute(stmt, (case_id,)).fetchone()
