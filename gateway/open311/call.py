"""One Open311 request as its route sees it: who calls, and in which format and language.

Every route takes the same things (the path's ``.json``/``.xml`` suffix, the
request, the service-role connection, the app's state and settings); :data:`CallDep`
bundles them once, so a route's signature names only what is its own (a service
code, a request id, the create's form, the town).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Path, Request, Response

from gateway.api.deps import (
    API_KEY_HEADER,
    Connection,
    SettingsDep,
    State,
    authenticate,
)
from gateway.api.ratelimit import RateLimit
from gateway.api.signin import enter_scope, scope_devices
from gateway.api.state import AppState
from gateway.auth.principal import Principal
from gateway.open311 import service
from gateway.open311.catalogue import Lang
from gateway.open311.errors import Open311Error
from gateway.open311.query import checked_args
from gateway.open311.render import MEDIA_TYPES, Format, Node, errors_document, render
from gridwatch.settings import Settings

PREFIX = "/open311"

#: The format suffix. Checked after the caller is known, so an unauthenticated
#: request learns nothing; the OpenAPI still lists the two values.
FmtPath = Annotated[
    str, Path(description="json or xml", json_schema_extra={"enum": ["json", "xml"]})
]


def format_of(fmt: str) -> Format:
    if fmt == "json":
        return "json"
    if fmt == "xml":
        return "xml"
    raise Open311Error.bad("fmt", fmt, "expected json or xml (the path's suffix)")


def format_of_path(path: str) -> Format:
    """The format an error answers in, from the path alone (the suffix may be wrong)."""
    return "json" if path.endswith(".json") else "xml"


def answer(fmt: Format, root: str, doc: Node, status: int = 200) -> Response:
    return Response(render(fmt, root, doc), status_code=status, media_type=MEDIA_TYPES[fmt])


def error_answer(fmt: Format, err: Open311Error) -> Response:
    resp = answer(fmt, "errors", errors_document(err.problems), err.status)
    if err.status == 401:
        resp.headers["WWW-Authenticate"] = "Bearer"
    return resp


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls (None for the public), and the format their answer is in."""

    principal: Principal | None
    fmt: Format

    @property
    def public(self) -> bool:
        return self.principal is None

    def answer(self, root: str, doc: Node) -> Response:
        return answer(self.fmt, root, doc)


_limiter_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Call:
    """What every Open311 route reads: the path's suffix, the request, the
    service-role connection, the app's state and settings."""

    fmt: str
    request: Request
    conn: psycopg.Connection[Any]
    state: AppState
    settings: Settings

    def submitter(self, form_key: str | None = None) -> Caller:
        """Who may submit (and resolve a token): a key or a person, or the public
        where ``open311_public`` lets it."""
        return self._caller(self.settings.open311_public, form_key)

    def reader(self) -> Caller:
        """Who may read requests, now in their own scope; the public where
        ``open311_public_read`` lets it (their reads show residents' reports only)."""
        found = self._caller(self.settings.open311_public_read, None)
        if found.principal is not None:
            scope = found.principal.scope
            enter_scope(self.conn, scope, scope_devices(self.state, scope))
        return found

    def _caller(self, public_ok: bool, form_key: str | None) -> Caller:
        """The caller, then the path's format: an unauthenticated request learns
        nothing, not even that its suffix is wrong.

        The key is the spec's ``api_key`` (a platform key); a person's bearer token
        works too. A missing, unknown, revoked or expired credential is 401.
        """
        token, key = self._credentials(form_key)
        principal: Principal | None = None
        if token is not None or key is not None:
            try:
                principal = authenticate(self.conn, self.state, token, key)
            except HTTPException as exc:
                raise Open311Error([(401, f"api_key: {exc.detail}")]) from exc
        elif not public_ok:
            raise Open311Error([(401, "api_key: required on this endpoint")])
        return Caller(principal, format_of(self.fmt))

    def _credentials(self, form_key: str | None) -> tuple[str | None, str | None]:
        """A bearer token, and an API key from the form, the query or the X-API-Key header."""
        headers = self.request.headers
        header = headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        key = form_key or self.request.query_params.get("api_key") or headers.get(API_KEY_HEADER)
        return token or None, key or None

    def args(self) -> dict[str, str]:
        """The query's arguments, checked; a repeated one joins its values with commas."""
        args: dict[str, str] = {}
        for key, value in self.request.query_params.multi_items():
            if key in args:
                # Comma lists are the spec's way; a repeated argument joins them.
                args[key] = f"{args[key]},{value}"
            else:
                args[key] = value
        return checked_args(args)

    def lang(self, args: Mapping[str, str]) -> Lang:
        return service.lang_of(
            args, self.request.headers.get("accept-language"), self.settings.lang
        )

    def client(self, caller: Caller) -> str:
        """Who a created request is from: the caller's subject, or the public's address."""
        if caller.principal is not None:
            return caller.principal.subject
        host = self.request.client.host if self.request.client else "unknown"
        return f"public:{host}"

    def public_limiter(self) -> RateLimit:
        """The app's limiter of public creates (one per app, so tests and apps do not share)."""
        app_state = self.request.app.state
        per_hour = self.settings.open311_public_per_hour
        with _limiter_lock:
            found: RateLimit | None = getattr(app_state, "open311_limiter", None)
            if found is None or found.limit != per_hour:
                found = RateLimit(per_hour, 3600.0)
                app_state.open311_limiter = found
            return found


async def open311_call(
    fmt: FmtPath, request: Request, conn: Connection, state: State, settings: SettingsDep
) -> Call:
    return Call(fmt, request, conn, state, settings)


CallDep = Annotated[Call, Depends(open311_call)]
