"""The handlers' dependencies as ``Annotated`` aliases: the caller, the database, settings...

Handlers take these instead of reading ``request.app.state``, so they are typed
and tests can override one dependency at a time. The trivial ones are ``async``:
a sync dependency costs a thread-pool hop per request.

- ``CurrentPerson``: the authenticated :class:`~gateway.auth.principal.Principal`
  (bearer token or ``X-API-Key``); 401 otherwise.
- ``Db``: the request's pooled connection inside one transaction, already running
  as ``gridwatch_api`` with the caller's scope set (row-level security, migration
  0007); committed when the handler returns, rolled back when it raises.
- ``require(Role...)``: 403 unless the caller holds one of the roles.
- ``GateDep``: both of those for a handler that takes them itself, in its own
  thread (``with gate.open() as s``): the hot case list, one hop instead of three.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from psycopg import sql
from psycopg_pool import ConnectionPool

from gateway.api.live import LiveHub
from gateway.api.state import AppState, IngestState, ScopeEntry
from gateway.auth.errors import InvalidCredentials
from gateway.auth.keys import key_digest
from gateway.auth.principal import TOWN_WIDE, Principal, Scope, scope_for
from gateway.auth.tokens import decode_token
from gateway.db.migrate import API_ROLE
from gridwatch.domain import Role
from gridwatch.settings import Settings
from gridwatch.town import Town

API_KEY_HEADER = "X-API-Key"


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.gridwatch
    return state


State = Annotated[AppState, Depends(app_state)]


async def get_settings(state: State) -> Settings:
    return state.settings


async def get_town(state: State) -> Town:
    if state.town is None:
        raise HTTPException(503, "this gateway runs without a town config / 未加载城镇配置")
    return state.town


def pool_of(state: AppState) -> ConnectionPool[Any]:
    if state.pool is None:
        raise HTTPException(503, "the database pool is not open / 数据库连接池未打开")
    return state.pool


async def get_pool(state: State) -> ConnectionPool[Any]:
    return pool_of(state)


async def get_live(state: State) -> LiveHub:
    if state.live is None:
        raise HTTPException(503, "the live channel is not running / 实时通道未运行")
    return state.live


async def get_ingest(state: State) -> IngestState | None:
    return state.ingest


SettingsDep = Annotated[Settings, Depends(get_settings)]
TownDep = Annotated[Town, Depends(get_town)]
PoolDep = Annotated[ConnectionPool[Any], Depends(get_pool)]
LiveDep = Annotated[LiveHub, Depends(get_live)]
IngestDep = Annotated[IngestState | None, Depends(get_ingest)]


#: Declared with ``Security`` so the OpenAPI lists both schemes.
bearer_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    description="A person's token from POST /api/v1/auth/token / 个人令牌",
)
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="A platform's API key (gridwatch keys create) / 平台密钥",
)


def _connection(pool: PoolDep) -> Iterator[psycopg.Connection[Any]]:
    """The request's one pooled connection and transaction: committed when the handler
    returns normally, rolled back when it raises (``pool.connection()`` does both)."""
    with pool.connection() as conn:
        yield conn


#: A pooled connection as the service role, unscoped: for signing in, not for data.
Connection = Annotated[psycopg.Connection[Any], Depends(_connection, scope="function")]


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


def authenticate(
    conn: psycopg.Connection[Any], state: AppState, token: str | None, key: str | None
) -> Principal:
    """The caller behind a bearer token or an API key; 401 for anything else.

    Runs as the service role: the account and key tables are not the API role's to
    read. The account is read on every request, so disabling it locks its tokens
    out at once.
    """
    return _sign_in(conn, state, token, key, enter=False)


def _sign_in(
    conn: psycopg.Connection[Any],
    state: AppState,
    token: str | None,
    key: str | None,
    *,
    enter: bool,
) -> Principal:
    """``authenticate``; with ``enter``, also switch the transaction to the API role
    with the caller's scope (``enter_scope``), in the same statement that reads the
    account or key: one round trip instead of two.

    The scope depends on the role the row holds, so the statement sets the scope
    of the role this caller had last time (an empty one the first time); when the
    row says otherwise, a second statement sets the right one.
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
    row = conn.execute(_SIGN_IN[kind, enter], [*params, value])
    found = row.fetchone()
    name: str | None
    if kind == "key":
        if found is None or found[3]:
            raise unauthorized("API key unknown or revoked / 密钥无效或已吊销")
        role = Role(found[2])
        subject, name = f"key:{found[0]}", str(found[1])
    else:
        if found is None or found[1]:
            raise unauthorized("account unknown or disabled / 账号不存在或已停用")
        role = Role(found[0])
        assert person_id is not None
        person = state.town.people.get(person_id) if state.town is not None else None
        subject, name = person_id, None if person is None else person.name
    entry = _scope(state, person_id, role)
    if role is not guess:
        state.last_role[ident] = role
        if enter:
            conn.execute(_ENTER, entry.params)
    return Principal(subject=subject, person_id=person_id, name=name, role=role, scope=entry.scope)


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


@dataclass(frozen=True, slots=True)
class Scoped:
    """A connection in a transaction as ``gridwatch_api`` with ``principal``'s scope."""

    conn: psycopg.Connection[Any]
    principal: Principal


@dataclass(frozen=True, slots=True)
class Gate:
    """What a request presented, to be turned into a :class:`Scoped` connection."""

    state: AppState
    token: str | None
    key: str | None

    @contextmanager
    def open(self) -> Iterator[Scoped]:
        """A pooled connection, signed in and scoped; committed when the block ends
        normally, rolled back when it raises. 401 for bad credentials.

        ``SET LOCAL`` and ``set_config(..., true)`` last until the transaction ends,
        so the next request on this pooled connection starts as the service role.
        """
        with pool_of(self.state).connection() as conn:
            yield Scoped(conn, _sign_in(conn, self.state, self.token, self.key, enter=True))


async def get_gate(
    state: State,
    token: Annotated[str | None, Security(bearer_scheme)],
    key: Annotated[str | None, Security(api_key_scheme)],
) -> Gate:
    return Gate(state, token, key)


GateDep = Annotated[Gate, Depends(get_gate)]


def _scoped(gate: GateDep) -> Iterator[Scoped]:
    with gate.open() as scoped:
        yield scoped


#: Ends with the handler, before the response is sent, so a write is committed
#: before the client hears of it.
_ScopedDep = Annotated[Scoped, Depends(_scoped, scope="function")]


async def current_principal(scoped: _ScopedDep) -> Principal:
    return scoped.principal


CurrentPerson = Annotated[Principal, Security(current_principal)]


async def get_db(scoped: _ScopedDep) -> psycopg.Connection[Any]:
    """The request's connection, running as ``gridwatch_api`` with the caller's scope."""
    return scoped.conn


Db = Annotated[psycopg.Connection[Any], Depends(get_db)]


class RoleCheck:
    """The dependency ``require`` builds: 403 unless the caller holds one of ``roles``.

    A class, not a closure, so :mod:`gateway.api.responses` can find it in a route's
    dependencies and declare the 403.
    """

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, principal: CurrentPerson) -> Principal:
        if principal.role not in self.roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role.value} may not do this; needs one of"
                f" {sorted(r.value for r in self.roles)} / 无此权限",
            )
        return principal


def require(*roles: Role) -> Any:
    """A dependency: 403 unless the caller holds one of ``roles``."""
    return Security(RoleCheck(roles))
