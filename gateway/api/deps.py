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

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from gateway.api.live import LiveHub
from gateway.api.signin import sign_in, sign_in_async
from gateway.api.state import AppState, IngestState
from gateway.auth.principal import Principal
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


def async_pool_of(state: AppState) -> AsyncConnectionPool[Any]:
    if state.async_pool is None:
        raise HTTPException(503, "the database pool is not open / 数据库连接池未打开")
    return state.async_pool


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


def authenticate(
    conn: psycopg.Connection[Any], state: AppState, token: str | None, key: str | None
) -> Principal:
    """The caller behind a bearer token or an API key; 401 for anything else.

    Runs as the service role: the account and key tables are not the API role's to
    read. The account is read on every request, so disabling it locks its tokens
    out at once.
    """
    return sign_in(conn, state, token, key, enter=False)


@dataclass(frozen=True, slots=True)
class Scoped:
    """A connection in a transaction as ``gridwatch_api`` with ``principal``'s scope."""

    conn: psycopg.Connection[Any]
    principal: Principal


@dataclass(frozen=True, slots=True)
class AsyncScoped:
    """:class:`Scoped` on an async connection (the case list's, on the event loop)."""

    conn: psycopg.AsyncConnection[Any]
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
            yield Scoped(conn, sign_in(conn, self.state, self.token, self.key, enter=True))

    @asynccontextmanager
    async def open_async(self) -> AsyncIterator[AsyncScoped]:
        """:meth:`open` from the async pool, for a handler that runs on the event loop."""
        async with async_pool_of(self.state).connection() as conn:
            yield AsyncScoped(conn, await sign_in_async(conn, self.state, self.token, self.key))


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
