"""The handlers' dependencies as ``Annotated`` aliases: the caller, the database, settings...

Handlers take these instead of reading ``request.app.state``, so they are typed
and tests can override one dependency at a time.

- ``CurrentPerson``: the authenticated :class:`~gateway.auth.principal.Principal`
  (bearer token or ``X-API-Key``); 401 otherwise.
- ``Db``: the request's pooled connection inside one transaction, already running
  as ``gridwatch_api`` with the caller's scope set (row-level security, migration
  0007); committed when the handler returns, rolled back when it raises.
- ``require(Role...)``: 403 unless the caller holds one of the roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from psycopg import sql
from psycopg_pool import ConnectionPool

from gateway.api.live import LiveHub
from gateway.api.state import AppState, IngestState
from gateway.auth.errors import InvalidCredentials
from gateway.auth.principal import TOWN_WIDE, Principal, Scope, scope_for
from gateway.auth.store import find_key, get_account
from gateway.auth.tokens import decode_token
from gateway.db.migrate import API_ROLE
from gridwatch.domain import Role
from gridwatch.settings import Settings
from gridwatch.town import Town

API_KEY_HEADER = "X-API-Key"


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.gridwatch
    return state


State = Annotated[AppState, Depends(app_state)]


def get_settings(state: State) -> Settings:
    return state.settings


def get_town(state: State) -> Town:
    if state.town is None:
        raise HTTPException(503, "this gateway runs without a town config / 未加载城镇配置")
    return state.town


def get_pool(state: State) -> ConnectionPool[Any]:
    if state.pool is None:
        raise HTTPException(503, "the database pool is not open / 数据库连接池未打开")
    return state.pool


def get_live(state: State) -> LiveHub:
    if state.live is None:
        raise HTTPException(503, "the live channel is not running / 实时通道未运行")
    return state.live


def get_ingest(state: State) -> IngestState | None:
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


Connection = Annotated[psycopg.Connection[Any], Depends(_connection, scope="function")]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticate(
    conn: psycopg.Connection[Any], state: AppState, token: str | None, key: str | None
) -> Principal:
    """The caller behind a bearer token or an API key; 401 for anything else.

    Runs as the service role, before the request switches to the API role: the
    account and key tables are not the API role's to read. The account is read on
    every request, so disabling it locks its tokens out at once.
    """
    if key:
        row = find_key(conn, key)
        if row is None or row.revoked_at is not None:
            raise unauthorized("API key unknown or revoked / 密钥无效或已吊销")
        role = Role(row.role)
        return Principal(
            subject=f"key:{row.id}",
            person_id=None,
            name=row.name,
            role=role,
            scope=_scope(state, None, role),
        )
    if not token:
        raise unauthorized("authentication required / 需要登录")
    try:
        claims = decode_token(state.tokens, token)
    except InvalidCredentials as exc:
        raise unauthorized(f"{exc} / 令牌无效") from exc
    account = get_account(conn, claims.subject)
    if account is None or account.disabled:
        raise unauthorized("account unknown or disabled / 账号不存在或已停用")
    role = Role(account.role)
    person = state.town.people.get(account.person_id) if state.town is not None else None
    return Principal(
        subject=account.person_id,
        person_id=account.person_id,
        name=None if person is None else person.name,
        role=role,
        scope=_scope(state, account.person_id, role),
    )


def _scope(state: AppState, person_id: str | None, role: Role) -> Scope:
    cached = state.scopes.get((person_id, role.value))
    if cached is None:
        if state.town is None:
            cached = Scope(all=role in TOWN_WIDE)
        else:
            cached = scope_for(state.town, role, person_id)
        state.scopes[(person_id, role.value)] = cached
    return cached


def current_principal(
    conn: Connection,
    state: State,
    token: Annotated[str | None, Security(bearer_scheme)],
    key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    return authenticate(conn, state, token, key)


CurrentPerson = Annotated[Principal, Security(current_principal)]


class RoleCheck:
    """The dependency ``require`` builds: 403 unless the caller holds one of ``roles``.

    A class, not a closure, so :mod:`gateway.api.responses` can find it in a route's
    dependencies and declare the 403.
    """

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles = frozenset(roles)

    def __call__(self, principal: CurrentPerson) -> Principal:
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


def scope_settings(scope: Scope, devices: list[str]) -> list[tuple[str, str]]:
    """The per-transaction settings the row-level policies read (migration 0007)."""
    return [
        ("gridwatch.all", "on" if scope.all else "off"),
        ("gridwatch.units", _array(scope.units)),
        ("gridwatch.grids", _array(scope.grids)),
        ("gridwatch.villages", _array(scope.villages)),
        ("gridwatch.departments", _array(scope.departments)),
        ("gridwatch.devices", _array(devices)),
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
    pairs = [("role", API_ROLE), *scope_settings(scope, devices)]
    conn.execute(
        sql.SQL("SELECT {}").format(
            sql.SQL(", ").join(sql.SQL("set_config(%s, %s, true)") for _ in pairs)
        ),
        [x for pair in pairs for x in pair],
    )


def get_db(
    conn: Connection, principal: CurrentPerson, state: State
) -> Iterator[psycopg.Connection[Any]]:
    """The request's connection, now running as ``gridwatch_api`` with the caller's scope.

    ``SET LOCAL`` and ``set_config(..., true)`` last until the transaction ends, so the
    next request on this pooled connection starts as the service role again.
    """
    enter_scope(conn, principal.scope, scope_devices(state, principal.scope))
    yield conn


#: Ends with the handler, before the response is sent, so a write is committed
#: before the client hears of it.
Db = Annotated[psycopg.Connection[Any], Depends(get_db, scope="function")]
