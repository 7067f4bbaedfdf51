"""The handlers' dependencies as ``Annotated`` aliases: the database, settings, town, live hub.

Handlers take these instead of reading ``request.app.state``, so they are typed
and tests can override one dependency at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request
from psycopg_pool import ConnectionPool

from gateway.api.live import LiveHub
from gateway.api.state import AppState, IngestState
from gridwatch.settings import Settings
from gridwatch.town import Town


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


def get_db(pool: PoolDep) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection inside one transaction: committed when the handler returns
    normally, rolled back when it raises (``pool.connection()`` does both)."""
    with pool.connection() as conn:
        yield conn


#: Ends with the handler, before the response is sent, so a write is committed
#: before the client hears of it.
Db = Annotated[psycopg.Connection[Any], Depends(get_db, scope="function")]
