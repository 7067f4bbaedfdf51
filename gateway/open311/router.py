"""The Open311 GeoReport v2 routes: ``/open311/discovery.{fmt}`` and ``/open311/v2/...``.

Thin: each route reads the request, calls :mod:`gateway.open311.service` and
renders the answer as the path's format. Every failure a client can cause is a
400, 401, 404 or 429 in the spec's ``errors``/``error`` shape, never a 500: the
routes raise :class:`Open311Error` and :func:`install` renders it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile

from gateway.api.deps import (
    API_KEY_HEADER,
    Connection,
    SettingsDep,
    State,
    TownDep,
    authenticate,
    enter_scope,
    scope_devices,
)
from gateway.api.ratelimit import RateLimit
from gateway.api.state import AppState
from gateway.auth.principal import Principal
from gateway.open311 import documents, service, store
from gateway.open311.catalogue import MICRO_VOICE, MICRO_WISH, Lang
from gateway.open311.errors import Open311Error, show
from gateway.open311.forms import parse_create
from gateway.open311.query import case_id, checked_args, flag, parse_requests_query
from gateway.open311.render import MEDIA_TYPES, Format, Node, errors_document, render
from gridwatch.domain import CATEGORIES

PREFIX = "/open311"
#: Largest create body accepted: the spec's fields fit in far less.
MAX_BODY = 64 * 1024
MAX_FIELDS = 100


_limiter_lock = threading.Lock()


def _limiter(request: Request, per_hour: int) -> RateLimit:
    """The app's limiter of public creates (one per app, so tests and apps do not share)."""
    with _limiter_lock:
        found: RateLimit | None = getattr(request.app.state, "open311_limiter", None)
        if found is None or found.limit != per_hour:
            found = RateLimit(per_hour, 3600.0)
            request.app.state.open311_limiter = found
        return found


#: The format suffix. Checked in the handler, after the caller is known, so an
#: unauthenticated request learns nothing; the OpenAPI still lists the two values.
FmtPath = Annotated[
    str, Path(description="json or xml", json_schema_extra={"enum": ["json", "xml"]})
]
#: Every answer's media types, for the OpenAPI.
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/xml": {}}, "description": "the document"},
    400: {"description": "bad input, as errors/error naming the field and value"},
    401: {"description": "no or bad credential (api_key, X-API-Key or a bearer token)"},
    404: {"description": "no such service, request or token, or not in the caller's scope"},
    429: {"description": "too many public creates from this address"},
}


router = APIRouter(prefix=PREFIX, tags=["open311"], responses=_ANSWERS)


def _format(fmt: str) -> Format:
    if fmt == "json":
        return "json"
    if fmt == "xml":
        return "xml"
    raise Open311Error.bad("fmt", fmt, "expected json or xml (the path's suffix)")


def _fmt_of_path(path: str) -> Format:
    return "json" if path.endswith(".json") else "xml"


def answer(fmt: Format, root: str, doc: Node, status: int = 200) -> Response:
    return Response(render(fmt, root, doc), status_code=status, media_type=MEDIA_TYPES[fmt])


def error_answer(fmt: Format, err: Open311Error) -> Response:
    resp = answer(fmt, "errors", errors_document(err.problems), err.status)
    if err.status == 401:
        resp.headers["WWW-Authenticate"] = "Bearer"
    return resp


def _args(request: Request) -> dict[str, str]:
    args: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in args:
            # Comma lists are the spec's way; a repeated argument joins them.
            args[key] = f"{args[key]},{value}"
        else:
            args[key] = value
    return checked_args(args)


def _lang(request: Request, args: Mapping[str, str], default: str) -> Lang:
    return service.lang_of(args, request.headers.get("accept-language"), default)


def _credentials(request: Request, form_key: str | None) -> tuple[str | None, str | None]:
    """A bearer token, and an API key from the form, the query or the X-API-Key header."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    key = form_key or request.query_params.get("api_key") or request.headers.get(API_KEY_HEADER)
    return token or None, key or None


def caller(
    conn: psycopg.Connection[Any],
    state: AppState,
    request: Request,
    *,
    public_ok: bool,
    form_key: str | None = None,
) -> Principal | None:
    """Who calls: a key's or a person's principal; None for the public where it may call.

    The key is the spec's ``api_key`` (a platform key); a person's bearer token works
    too. A missing, unknown, revoked or expired credential is 401.
    """
    token, key = _credentials(request, form_key)
    if token is None and key is None:
        if public_ok:
            return None
        raise Open311Error([(401, "api_key: required on this endpoint")])
    try:
        return authenticate(conn, state, token, key)
    except HTTPException as exc:
        raise Open311Error([(401, f"api_key: {exc.detail}")]) from exc


def _client(principal: Principal | None, request: Request) -> str:
    if principal is not None:
        return principal.subject
    return f"public:{request.client.host if request.client else 'unknown'}"


@router.get("/discovery.{fmt}", summary="Service discovery")
def discovery(
    fmt: FmtPath, request: Request, conn: Connection, state: State, settings: SettingsDep
) -> Response:
    caller(conn, state, request, public_ok=settings.open311_public)
    f = _format(fmt)
    base = str(request.base_url).rstrip("/") + PREFIX + "/v2/"
    doc = documents.discovery_doc(base, "2025-09-16T00:00:00Z", "gridwatch")
    return answer(f, "discovery", doc)


@router.get("/v2/services.{fmt}", summary="GET Service List")
def services(
    fmt: FmtPath,
    request: Request,
    conn: Connection,
    state: State,
    settings: SettingsDep,
    town: TownDep,
) -> Response:
    caller(conn, state, request, public_ok=settings.open311_public)
    f = _format(fmt)
    lang = _lang(request, _args(request), settings.lang)
    return answer(f, "services", documents.services_doc(service.town_catalogue(town), lang))


@router.get("/v2/services/{code}.{fmt}", summary="GET Service Definition")
def service_definition(
    code: str,
    fmt: FmtPath,
    request: Request,
    conn: Connection,
    state: State,
    settings: SettingsDep,
    town: TownDep,
) -> Response:
    caller(conn, state, request, public_ok=settings.open311_public)
    f = _format(fmt)
    lang = _lang(request, _args(request), settings.lang)
    found = service.town_catalogue(town).get(code)
    if found is None:
        raise Open311Error([(404, f"service_code={show(code)}: no such service")])
    return answer(f, "service_definition", documents.definition_doc(found, lang))


async def form_items(request: Request) -> list[tuple[str, str]] | Open311Error:
    """The create's fields, form-encoded or multipart; an Open311Error to answer otherwise."""
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        return Open311Error.bad("Content-Length", size, f"at most {MAX_BODY} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return Open311Error.bad(
            "Content-Type",
            kind,
            "expected application/x-www-form-urlencoded or multipart/form-data",
        )
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_BODY)
    except Exception as exc:  # Starlette raises several kinds for a malformed body
        return Open311Error.bad("body", kind, f"not a readable form ({exc})")
    items: list[tuple[str, str]] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            return Open311Error.bad(key, value.filename, "files are not accepted; send media_url")
        items.append((key, value))
    if sum(len(k) + len(v) for k, v in items) > MAX_BODY:
        return Open311Error.bad("body", "…", f"at most {MAX_BODY} bytes of fields")
    return items


FormDep = Annotated[list[tuple[str, str]] | Open311Error, Depends(form_items)]


_CREATE_FIELDS: dict[str, Any] = {
    "api_key": {"type": "string", "maxLength": 256},
    "jurisdiction_id": {"type": "string", "maxLength": 128},
    "service_code": {
        "type": "string",
        "maxLength": 64,
        "enum": [*CATEGORIES, MICRO_WISH, MICRO_VOICE],
    },
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "long": {"type": "number", "minimum": -180, "maximum": 180},
    "address_string": {"type": "string", "maxLength": 500},
    "address_id": {"type": "string", "maxLength": 64, "description": "a unit id"},
    "email": {"type": "string", "maxLength": 254},
    "device_id": {"type": "string", "maxLength": 128},
    "account_id": {"type": "string", "maxLength": 128},
    "first_name": {"type": "string", "maxLength": 64},
    "last_name": {"type": "string", "maxLength": 64},
    "phone": {"type": "string", "maxLength": 32},
    "description": {"type": "string", "maxLength": 4000},
    "media_url": {"type": "string", "maxLength": 2048},
}
_CREATE_SCHEMA = {"type": "object", "required": ["service_code"], "properties": _CREATE_FIELDS}
_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _CREATE_SCHEMA},
            "multipart/form-data": {"schema": _CREATE_SCHEMA},
        },
    }
}


@router.post("/v2/requests.{fmt}", summary="POST Service Request", openapi_extra=_CREATE_BODY)
def create_request(
    fmt: FmtPath,
    request: Request,
    form: FormDep,
    conn: Connection,
    state: State,
    settings: SettingsDep,
    town: TownDep,
) -> Response:
    form_key = None if isinstance(form, Open311Error) else dict(form).get("api_key")
    # The caller first: an unauthenticated request learns nothing about its body.
    principal = caller(conn, state, request, public_ok=settings.open311_public, form_key=form_key)
    f = _format(fmt)
    if isinstance(form, Open311Error):
        raise form
    req = parse_create(form, service.town_catalogue(town))
    client = _client(principal, request)
    if principal is None:
        wait = _limiter(request, settings.open311_public_per_hour).hit(client)
        if wait:
            limited = Open311Error(
                [(429, f"too many requests from this address; retry in {wait:.0f} s")]
            )
            resp = error_answer(f, limited)
            resp.headers["Retry-After"] = str(max(1, int(wait)))
            return resp
    idem = request.headers.get("idempotency-key")
    if idem is not None and not (0 < len(idem.strip()) <= 128):
        raise Open311Error.bad("Idempotency-Key", idem, "1 to 128 characters")
    lang = _lang(request, _args(request), settings.lang)
    # The intake runs as the service role, like the dispatcher: the caller's
    # credential authorised the report; routing decides whose case it becomes.
    created = service.create(
        conn,
        town,
        req,
        client=client,
        idempotency_key=idem,
        now=datetime.now(UTC),
        config_dir=settings.config_dir,
        zone=settings.zone,
        lang=lang,
    )
    return answer(f, "service_requests", created.document)


def _reader(
    conn: psycopg.Connection[Any], state: AppState, request: Request, public_ok: bool
) -> bool:
    """Authenticate a read and enter the caller's scope; True for a public reader."""
    principal = caller(conn, state, request, public_ok=public_ok)
    if principal is None:
        return True
    enter_scope(conn, principal.scope, scope_devices(state, principal.scope))
    return False


@router.get("/v2/requests.{fmt}", summary="GET Service Requests")
def list_requests(
    fmt: FmtPath,
    request: Request,
    conn: Connection,
    state: State,
    settings: SettingsDep,
    town: TownDep,
) -> Response:
    public = _reader(conn, state, request, settings.open311_public_read)
    f = _format(fmt)
    args = _args(request)
    ctx = service.context(town, _lang(request, args, settings.lang), settings.zone)
    query = parse_requests_query(args, ctx.catalogue, datetime.now(UTC))
    rows = store.fetch_cases(conn, query, residents_only=public)
    doc = service.request_documents(rows, ctx, extended=flag(args, "extended_attributes"))
    return answer(f, "service_requests", doc)


@router.get("/v2/requests/{request_id}.{fmt}", summary="GET Service Request")
def get_request(
    request_id: str,
    fmt: FmtPath,
    request: Request,
    conn: Connection,
    state: State,
    settings: SettingsDep,
    town: TownDep,
) -> Response:
    public = _reader(conn, state, request, settings.open311_public_read)
    f = _format(fmt)
    args = _args(request)
    ctx = service.context(town, _lang(request, args, settings.lang), settings.zone)
    row = store.fetch_case(conn, case_id(request_id), residents_only=public)
    if row is None:
        # Outside the caller's scope reads the same as missing.
        raise Open311Error([(404, f"service_request_id={show(request_id)}: no such request")])
    doc = service.request_documents([row], ctx, extended=flag(args, "extended_attributes"))
    return answer(f, "service_requests", doc)


@router.get("/v2/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
def get_token(
    token: str,
    fmt: FmtPath,
    request: Request,
    conn: Connection,
    state: State,
    settings: SettingsDep,
) -> Response:
    # Whoever may submit may resolve the token they were given (a 128-bit secret).
    caller(conn, state, request, public_ok=settings.open311_public)
    f = _format(fmt)
    _args(request)
    return answer(f, "service_requests", service.token_document(conn, token))


def _open311_validation(request: Request, exc: Exception) -> Response | None:
    """A request FastAPI refused before the route ran (a NUL, say), in Open311's shape."""
    if not request.url.path.startswith(PREFIX + "/") or not isinstance(exc, RequestValidationError):
        return None
    problems: list[tuple[int, str]] = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "header", "body"))
        problems.append((400, f"{loc or 'request'}={show(e.get('input'))}: {e.get('msg')}"))
    return error_answer(
        _fmt_of_path(request.url.path), Open311Error(problems or [(400, "bad request")])
    )


def install(app: FastAPI) -> None:
    """Mount the routes, and answer their errors and validation errors in Open311's format.

    A route raises :class:`Open311Error` for anything a client got wrong; the
    request's transaction rolls back and the client gets the spec's errors document.
    """
    from fastapi.exception_handlers import request_validation_exception_handler

    app.include_router(router)

    async def open311_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Open311Error)
        return error_answer(_fmt_of_path(request.url.path), exc)

    async def handler(request: Request, exc: Exception) -> Response:
        mine = _open311_validation(request, exc)
        if mine is not None:
            return mine
        assert isinstance(exc, RequestValidationError)
        return await request_validation_exception_handler(request, exc)

    app.add_exception_handler(Open311Error, open311_error)
    app.add_exception_handler(RequestValidationError, handler)
