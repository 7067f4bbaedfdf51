"""``Idempotency-Key``: a write sent twice acts once, and the second answer is the first.

A client that did not hear back (a timeout, a dropped connection) sends the same
write again with the same key. The key is claimed per subject (a person, or an
API key) in ``idempotency_keys`` (migration 0007) in the SAME transaction as the
write, and the answer is stored there before that transaction commits:

- the first request inserts the key, acts, stores its answer, commits both;
- a replay (same key, same method, path and body) finds the stored answer and
  returns it, with ``Idempotent-Replayed: true``, without acting again;
- a replay while the first is still running waits on the key's row lock and then
  sees the answer (or, when the first failed and rolled back, acts itself);
- the same key with another body is 422 naming the header: a client bug, not a retry.

Failed requests (4xx) roll back, key included, so a corrected retry may reuse the
key. Keys are kept ``TTL``; an older key is claimed afresh.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import psycopg
from fastapi import Header
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: How long a key answers for its first request; a client retries within minutes.
TTL = timedelta(hours=24)
_KEY = r"^[\x21-\x7e]{1,255}$"

#: The optional header, checked by shape: printable ASCII, 1..255 characters.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        pattern=_KEY,
        description="Makes the write safe to retry: a replay returns the first answer / 幂等键",
    ),
]


@dataclass(frozen=True, slots=True)
class Claim:
    """A key claimed for a write in progress; :func:`store` records its answer."""

    subject: str
    key: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The stored answer of a request already done."""

    status: int
    body: Any

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers={REPLAYED_HEADER: "true"})


def request_hash(method: str, path: str, body: Any) -> bytes:
    """What makes two requests the same: method, path and the body as parsed (so the
    order of keys and whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).digest()


def claim(
    conn: psycopg.Connection[Any],
    subject: str,
    key: str | None,
    method: str,
    path: str,
    body: Any,
) -> Claim | Replay | None:
    """Claim ``key`` for this request, or the stored answer when it was already done.

    None without a key (the write is simply not idempotent). Runs in the caller's
    transaction; :func:`store` must follow in the same one.
    """
    if key is None:
        return None
    if not re.match(_KEY, key):  # the Header pattern already refused it over HTTP
        raise _key_error(key, "1 to 255 printable ASCII characters")
    digest = request_hash(method, path, body)
    inserted = conn.execute(
        "INSERT INTO idempotency_keys (subject, key, method, path, request_hash)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (subject, key) DO NOTHING RETURNING key",
        (subject, key, method, path, digest),
    ).fetchone()
    if inserted is not None:
        return Claim(subject, key)
    row = conn.execute(
        "SELECT request_hash, status, response_body, created_at < now() - %s AS expired"
        " FROM idempotency_keys WHERE subject = %s AND key = %s FOR UPDATE",
        (TTL, subject, key),
    ).fetchone()
    assert row is not None  # the conflicting row is committed; keys are not deleted early
    stored_hash, status, stored_body, expired = row
    if expired or status is None:
        conn.execute(
            "UPDATE idempotency_keys SET method = %s, path = %s, request_hash = %s,"
            " status = NULL, response_body = NULL, created_at = now()"
            " WHERE subject = %s AND key = %s",
            (method, path, digest, subject, key),
        )
        return Claim(subject, key)
    if bytes(stored_hash) != digest:
        raise _key_error(
            key, "a new key for a different request (this one was used for another body)"
        )
    return Replay(int(status), stored_body)


def store(conn: psycopg.Connection[Any], claim: Claim | None, status: int, body: Any) -> None:
    """Record the answer of the claimed request, to be committed with its write."""
    if claim is None:
        return
    conn.execute(
        "UPDATE idempotency_keys SET status = %s, response_body = %s"
        " WHERE subject = %s AND key = %s",
        (status, Jsonb(body), claim.subject, claim.key),
    )


def _key_error(key: str, expected: str) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("header", HEADER),
                "msg": f"{HEADER} {key[:64]!r}: expected {expected} / 幂等键与原请求不符",
                "input": key[:64],
            }
        ]
    )
