"""``/api/v1/live``: Server-Sent Events of new events, case changes and consultation
messages in the caller's scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Security
from fastapi.responses import StreamingResponse

from gateway.api.deps import (
    Connection,
    LiveDep,
    State,
    api_key_scheme,
    authenticate,
    bearer_scheme,
)
from gateway.api.live import LiveMessage, sse_stream
from gateway.auth.principal import Principal
from gridwatch.town import Town

router = APIRouter(prefix="/api/v1/live", tags=["live"])


def live_principal(
    conn: Connection,
    state: State,
    token: Annotated[str | None, Security(bearer_scheme)],
    key: Annotated[str | None, Security(api_key_scheme)],
    access_token: Annotated[
        str | None,
        Query(max_length=4096, description="The bearer token, for EventSource (no headers)"),
    ] = None,
) -> Principal:
    # A browser's EventSource cannot set headers, so the token may come as a query value.
    return authenticate(conn, state, token or access_token, key)


def visible_to(principal: Principal, town: Town | None) -> Callable[[LiveMessage], bool] | None:
    """Which notifications the caller may see: those of units, or of departments, in scope;
    a joint case's changes and consultation also reach the departments of its tasks."""
    scope = principal.scope
    if scope.all:
        return None

    def visible(msg: LiveMessage) -> bool:
        data = msg.fields
        if data is None:
            return False
        if data.get("unit_id") in scope.units:
            return True
        joint = data.get("departments")
        if isinstance(joint, list) and scope.departments.intersection(joint):
            return True
        if scope.departments and data.get("type") == "case" and town is not None:
            dept = town.department_for(str(data.get("category")))
            return dept is not None and dept.id in scope.departments
        return False

    return visible


@router.get("", response_class=StreamingResponse)
async def live(
    hub: LiveDep,
    state: State,
    principal: Annotated[Principal, Security(live_principal)],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    resume_from: Annotated[
        str | None,
        Query(
            alias="last_event_id",
            max_length=64,
            description="The last id seen, for a new EventSource (which cannot send the header)",
        ),
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: new events and case changes in your scope / 实时推送 (SSE).

    A reconnecting client sends ``Last-Event-ID`` (or, from a new ``EventSource``, the
    ``last_event_id`` query value) and first gets what it missed.
    """
    sub = hub.subscribe(last_event_id or resume_from)
    return StreamingResponse(
        sse_stream(hub, sub, visible=visible_to(principal, state.town)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
