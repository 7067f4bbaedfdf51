"""Size limits on what a request may carry, and the request id every answer names.

- ``RequestLimits`` (ASGI middleware): a body over ``max_body`` bytes is refused
  with 413 before a handler reads it (by ``Content-Length``, or while a chunked
  body streams in); every response carries ``X-Request-ID``, the caller's own when
  it sent a usable one, so a log line, an audit row and a client's report meet.
- ``limit_query`` (app dependency): at most ``MAX_QUERY_ITEMS`` query values, each at
  most ``MAX_QUERY_VALUE`` characters; 422 naming the field otherwise.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest request body: a case action or a report is a few KB.
MAX_BODY = 64 * 1024
MAX_QUERY_ITEMS = 32
MAX_QUERY_VALUE = 1024
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


class BodyTooLarge(Exception):
    """A request body past the limit, raised while it streams in."""


def request_id(request: Request) -> str | None:
    """The id ``RequestLimits`` gave this request."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


class RequestLimits:
    """Refuses oversized bodies (413) and stamps every request with an id."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get(REQUEST_ID_HEADER.lower(), "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._refuse(send, rid, length)
            return

        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge
            return message

        async def stamped_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (REQUEST_ID_HEADER.lower().encode(), rid.encode()),
                    ],
                }
            await send(message)

        try:
            await self.app(scope, limited_receive, stamped_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send, rid, f"more than {self.max_body}")

    async def _refuse(self, send: Send, rid: str, length: str) -> None:
        body = json.dumps(
            {
                "detail": [
                    {
                        "type": "too_long",
                        "loc": ["body"],
                        "msg": f"request body of {length} bytes; at most {self.max_body}"
                        f" / 请求体过大",
                        "input": None,
                    }
                ]
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (REQUEST_ID_HEADER.lower().encode(), rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def limit_query(request: Request) -> None:
    """422 naming the query value that is too long, or the count when there are too many."""
    items = request.query_params.multi_items()
    errors: list[dict[str, Any]] = []
    if len(items) > MAX_QUERY_ITEMS:
        errors.append(
            {
                "type": "too_long",
                "loc": ("query",),
                "msg": f"{len(items)} query values; at most {MAX_QUERY_ITEMS} / 查询参数过多",
                "input": None,
            }
        )
    for key, value in items:
        if len(value) > MAX_QUERY_VALUE or len(key) > MAX_QUERY_VALUE:
            errors.append(
                {
                    "type": "string_too_long",
                    "loc": ("query", key[:64]),
                    "msg": f"{key[:64]!r} is {len(value)} characters; at most {MAX_QUERY_VALUE}"
                    " / 查询值过长",
                    "input": value[:64],
                }
            )
    if errors:
        raise RequestValidationError(errors)
