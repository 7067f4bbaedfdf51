"""``Idempotency-Key`` for writes: a replayed request gets the first answer, not a second act.

The key row is written in the request's own transaction, before the write: a
concurrent replay waits on the row's unique index until the first commits, then
finds its answer. A key reused for a different request is refused (422).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

#: What a key may look like (printable ASCII, as clients generate UUIDs or similar).
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


@dataclass(frozen=True, slots=True)
class Stored:
    status: int
    body: Any


class KeyReused(Exception):
    """The same key came with a different method, path or body."""


def request_hash(method: str, path: str, body: Any) -> bytes:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def begin(
    conn: psycopg.Connection[Any], subject: str, key: str, method: str, path: str, digest: bytes
) -> Stored | None:
    """The stored answer of an earlier request with this key, or None after claiming it."""
    conn.execute(
        "INSERT INTO idempotency_keys (subject, key, method, path, request_hash)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (subject, key) DO NOTHING",
        (subject, key, method, path, digest),
    )
    row = conn.execute(
        "SELECT method, path, request_hash, status, response_body FROM idempotency_keys"
        " WHERE subject = %s AND key = %s",
        (subject, key),
    ).fetchone()
    assert row is not None
    if (row[0], row[1], bytes(row[2])) != (method, path, digest):
        raise KeyReused(f"Idempotency-Key {key!r} was used for {row[0]} {row[1]} with another body")
    if row[3] is None:
        return None
    return Stored(int(row[3]), row[4])


def finish(conn: psycopg.Connection[Any], subject: str, key: str, status: int, body: Any) -> None:
    conn.execute(
        "UPDATE idempotency_keys SET status = %s, response_body = %s"
        " WHERE subject = %s AND key = %s",
        (status, Jsonb(body), subject, key),
    )
