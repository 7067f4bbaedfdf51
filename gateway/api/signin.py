"""Signing a request in: the token or key, the account or key row, the API role and scope.

One round trip: the statement that reads the account or key also switches the
transaction to ``gridwatch_api`` with the caller's scope (``set_config``, migration
0007). The decisions (:func:`plan`, :func:`conclude`) are apart from the two runners
that talk to the database: :func:`sign_in` on a sync connection (every handler in
the thread pool) and :func:`sign_in_async` on an async one (the case list, which runs
on the event loop: no thread hop, measured in docs/api.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from fastapi import HTTPException, status
from psycopg import sql

from gateway.api.state import AppState, ScopeEntry
from gateway.auth.errors import InvalidCredentials
from gateway.auth.keys import key_digest
from gateway.auth.principal import TOWN_WIDE, Principal, Scope, scope_for
from gateway.auth.tokens import decode_token
from gateway.db.migrate import API_ROLE
from gridwatch.domain import Role


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def scope_settings(scope: Scope, devices: list[str]) -> list[tuple[str, str]]:
    """The per-transaction settings the row-level policies read (migration 0007)."""
    return [
        ("gridwatch.all", "on" if scope.all else "off"),
        ("gridwatch.units", _array(scope.units)),
        ("gridwatch.grids", _array(scope.grids)),
        ("gridwatch.villages", _array(scope.villages)),
        ("gridwatch.departments", _array(scope.departments)),
        ("gridwatch.devices", _array(devices)),
        ("gridwatch.person", scope.assignee or ""),
    ]


def _array(values: Iterable[str]) -> str:
    """A text[] literal; ids are quoted, so no id can end the array or add one."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in sorted(values))
    return "{" + ",".join(quoted) + "}"


def scope_devices(state: AppState, scope: Scope) -> list[str]:
    """The devices in the scope's units (device_status and readings have no unit column)."""
    if scope.all or state.town is None or not scope.units:
        return []
    return [d.id for d in state.town.devices.values() if d.unit in scope.units]


def enter_scope(conn: psycopg.Connection[Any], scope: Scope, devices: list[str]) -> None:
    """Switch this transaction to the API role with ``scope``; both end with it.

    ``set_config('role', r, true)`` is ``SET LOCAL ROLE r``; done in the same
    statement as the scope, it costs one round trip.
    """
    conn.execute(_ENTER, _entry(scope, devices).params)


#: The role and the settings the policies read, as ``set_config`` calls in one
#: SELECT list (``_entry`` gives their parameters).
_SET_SCOPE = sql.SQL(", ").join(
    sql.SQL("set_config(%s, %s, true)") for _ in range(1 + len(scope_settings(Scope(), [])))
)
_ENTER = sql.SQL("SELECT ") + _SET_SCOPE
_ACCOUNT = "SELECT role, disabled{} FROM accounts WHERE person_id = %s"
_KEY = "SELECT id, name, role, revoked_at IS NOT NULL{} FROM api_keys WHERE secret_sha256 = %s"
#: By (kind, enter): reading the account or key, and with ``enter`` also the scope.
_SIGN_IN = {
    (kind, enter): sql.SQL(text).format(sql.SQL(", ") + _SET_SCOPE if enter else sql.SQL(""))
    for kind, text in (("person", _ACCOUNT), ("key", _KEY))
    for enter in (False, True)
}


@dataclass(frozen=True, slots=True)
class Plan:
    """What to ask the database for a caller: the statement and its parameters."""

    ident: tuple[str, str | bytes]
    person_id: str | None
    guess: Role | None
    enter: bool
    statement: sql.Composed
    params: list[Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The caller, and the scope to enter again when the row named another role."""

    principal: Principal
    enter_again: tuple[str, ...] | None


def plan(state: AppState, token: str | None, key: str | None, *, enter: bool) -> Plan:
    """The sign-in statement for a bearer token or an API key; 401 for anything else.

    The scope depends on the role the row holds, so the statement sets the scope
    of the role this caller had last time (an empty one the first time);
    :func:`conclude` says when the row says otherwise.
    """
    if key:
        ident: tuple[str, str | bytes] = ("key", key_digest(key))
    elif not token:
        raise unauthorized("authentication required / 需要登录")
    else:
        try:
            ident = ("person", decode_token(state.tokens, token).subject)
        except InvalidCredentials as exc:
            raise unauthorized(f"{exc} / 令牌无效") from exc
    kind, value = ident
    person_id = value if isinstance(value, str) else None
    guess = state.last_role.get(ident)
    params: list[Any] = []
    if enter:
        guessed = _scope(state, person_id, guess) if guess is not None else _NOBODY
        params.extend(guessed.params)
    params.append(value)
    return Plan(ident, person_id, guess, enter, _SIGN_IN[kind, enter], params)


def conclude(state: AppState, p: Plan, found: tuple[Any, ...] | None) -> Outcome:
    """The principal behind the row ``plan``'s statement returned; 401 when it is
    missing, disabled or revoked."""
    name: str | None
    if p.ident[0] == "key":
        if found is None or found[3]:
            raise unauthorized("API key unknown or revoked / 密钥无效或已吊销")
        role = Role(found[2])
        subject, name = f"key:{found[0]}", str(found[1])
    else:
        if found is None or found[1]:
            raise unauthorized("account unknown or disabled / 账号不存在或已停用")
        role = Role(found[0])
        assert p.person_id is not None
        person = state.town.people.get(p.person_id) if state.town is not None else None
        subject, name = p.person_id, None if person is None else person.name
    entry = _scope(state, p.person_id, role)
    again = None
    if role is not p.guess:
        state.last_role[p.ident] = role
        again = entry.params if p.enter else None
    principal = Principal(
        subject=subject, person_id=p.person_id, name=name, role=role, scope=entry.scope
    )
    return Outcome(principal, again)


def sign_in(
    conn: psycopg.Connection[Any],
    state: AppState,
    token: str | None,
    key: str | None,
    *,
    enter: bool,
) -> Principal:
    """The caller; with ``enter``, the transaction also switched to the API role with
    the caller's scope, in the same statement that reads the account or key."""
    p = plan(state, token, key, enter=enter)
    outcome = conclude(state, p, conn.execute(p.statement, p.params).fetchone())
    if outcome.enter_again is not None:
        conn.execute(_ENTER, outcome.enter_again)
    return outcome.principal


async def sign_in_async(
    conn: psycopg.AsyncConnection[Any], state: AppState, token: str | None, key: str | None
) -> Principal:
    """:func:`sign_in` with ``enter``, on an async connection."""
    p = plan(state, token, key, enter=True)
    cur = await conn.execute(p.statement, p.params)
    outcome = conclude(state, p, await cur.fetchone())
    if outcome.enter_again is not None:
        await conn.execute(_ENTER, outcome.enter_again)
    return outcome.principal


def _scope(state: AppState, person_id: str | None, role: Role) -> ScopeEntry:
    """The scope of ``role`` held by ``person_id``, with its settings, built once."""
    cached = state.scopes.get((person_id, role.value))
    if cached is None:
        if state.town is None:
            scope = Scope(all=role in TOWN_WIDE)
        else:
            scope = scope_for(state.town, role, person_id)
        cached = _entry(scope, scope_devices(state, scope))
        state.scopes[(person_id, role.value)] = cached
    return cached


def _entry(scope: Scope, devices: list[str]) -> ScopeEntry:
    pairs = [("role", API_ROLE), *scope_settings(scope, devices)]
    return ScopeEntry(scope=scope, params=tuple(x for pair in pairs for x in pair))


#: Nothing in scope: what a first request sets until its row names the role.
_NOBODY = _entry(Scope(), [])
