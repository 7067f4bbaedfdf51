"""``/api/v1/live``: Server-Sent Events of every new event and case change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from gateway.api.deps import LiveDep
from gateway.api.live import sse_stream

router = APIRouter(prefix="/api/v1/live", tags=["live"])


@router.get("", response_class=StreamingResponse)
async def live(
    hub: LiveDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events: every new event and case change / 实时推送 (SSE).

    A reconnecting client sends ``Last-Event-ID`` and first gets what it missed.
    """
    sub = hub.subscribe(last_event_id)
    return StreamingResponse(
        sse_stream(hub, sub),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
