"""Accounts and API keys in the database (migration 0007); typed rows.

These run as the service role, before a request switches to ``gridwatch_api``,
which may not read either table: password hashes and key digests stay out of
the API role's reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from gateway.auth.keys import key_digest, new_key
from gateway.auth.passwords import hash_password
from gridwatch.domain import Role


@dataclass(frozen=True, slots=True)
class Account:
    person_id: str
    role: str
    password_hash: str
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    role: str
    created_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None


class AccountExists(Exception):
    """An account for that person is already there."""


def add_account(
    conn: psycopg.Connection[Any], person_id: str, role: Role, password: str
) -> Account:
    try:
        with conn.transaction(), conn.cursor(row_factory=class_row(Account)) as cur:
            cur.execute(
                "INSERT INTO accounts (person_id, role, password_hash) VALUES (%s, %s, %s)"
                " RETURNING *",
                (person_id, role.value, hash_password(password)),
            )
            row = cur.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise AccountExists(f"person {person_id} already has an account") from exc
    assert row is not None
    return row


def get_account(conn: psycopg.Connection[Any], person_id: str) -> Account | None:
    with conn.cursor(row_factory=class_row(Account)) as cur:
        cur.execute("SELECT * FROM accounts WHERE person_id = %s", (person_id,))
        return cur.fetchone()


def list_accounts(conn: psycopg.Connection[Any]) -> list[Account]:
    with conn.cursor(row_factory=class_row(Account)) as cur:
        cur.execute("SELECT * FROM accounts ORDER BY person_id")
        return cur.fetchall()


def set_disabled(conn: psycopg.Connection[Any], person_id: str, disabled: bool = True) -> bool:
    """Whether the account exists (and is now disabled or enabled)."""
    cur = conn.execute(
        "UPDATE accounts SET disabled = %s, updated_at = now() WHERE person_id = %s",
        (disabled, person_id),
    )
    return cur.rowcount == 1


def set_password(conn: psycopg.Connection[Any], person_id: str, password: str) -> bool:
    cur = conn.execute(
        "UPDATE accounts SET password_hash = %s, updated_at = now() WHERE person_id = %s",
        (hash_password(password), person_id),
    )
    return cur.rowcount == 1


def create_key(
    conn: psycopg.Connection[Any], name: str, role: Role, created_by: str
) -> tuple[ApiKey, str]:
    """A new key row and the key itself, which is not stored and cannot be shown again."""
    secret = new_key()
    with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        cur.execute(
            "INSERT INTO api_keys (name, role, secret_sha256, created_by) VALUES (%s, %s, %s, %s)"
            " RETURNING id, name, role, created_by, created_at, revoked_by, revoked_at",
            (name, role.value, key_digest(secret), created_by),
        )
        row = cur.fetchone()
    assert row is not None
    return row, secret


def find_key(conn: psycopg.Connection[Any], secret: str) -> ApiKey | None:
    """The key row for a presented key, revoked or not; None for an unknown key."""
    with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        cur.execute(
            "SELECT id, name, role, created_by, created_at, revoked_by, revoked_at"
            " FROM api_keys WHERE secret_sha256 = %s",
            (key_digest(secret),),
        )
        return cur.fetchone()


def list_keys(conn: psycopg.Connection[Any]) -> list[ApiKey]:
    with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        cur.execute(
            "SELECT id, name, role, created_by, created_at, revoked_by, revoked_at"
            " FROM api_keys ORDER BY id"
        )
        return cur.fetchall()


def revoke_key(conn: psycopg.Connection[Any], key_id: int, revoked_by: str) -> bool:
    """Whether a key that was live is now revoked."""
    cur = conn.execute(
        "UPDATE api_keys SET revoked_by = %s, revoked_at = now()"
        " WHERE id = %s AND revoked_at IS NULL",
        (revoked_by, key_id),
    )
    return cur.rowcount == 1


def audit(
    conn: psycopg.Connection[Any],
    subject: str,
    action: str,
    target: str | None = None,
    *,
    request_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction."""
    conn.execute(
        "INSERT INTO audit_log (subject, action, target, request_id, data)"
        " VALUES (%s, %s, %s, %s, %s)",
        (subject, action, target, request_id, Jsonb(data or {})),
    )
