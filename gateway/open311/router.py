"""The Open311 GeoReport v2 routes: ``/open311/discovery.{fmt}`` and ``/open311/v2/...``.

Thin: each route takes the request as a :class:`~gateway.open311.call.Call` (who
calls, in which format and language), calls :mod:`gateway.open311.service` and
renders the answer as the path's format. Every failure a client can cause is a
400, 401, 404 or 429 in the spec's ``errors``/``error`` shape, never a 500: the
routes raise :class:`Open311Error` and :func:`install` renders it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile

from gateway.api.deps import TownDep
from gateway.open311 import documents, service, store
from gateway.open311.call import PREFIX, CallDep, error_answer, format_of_path
from gateway.open311.catalogue import MICRO_VOICE, MICRO_WISH
from gateway.open311.errors import Open311Error, show
from gateway.open311.forms import parse_create
from gateway.open311.query import case_id, flag, parse_requests_query
from gridwatch.domain import CATEGORIES

#: Largest create body accepted: the spec's fields fit in far less.
MAX_BODY = 64 * 1024
MAX_FIELDS = 100

#: Every answer's media types, for the OpenAPI.
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/xml": {}}, "description": "the document"},
    400: {"description": "bad input, as errors/error naming the field and value"},
    401: {"description": "no or bad credential (api_key, X-API-Key or a bearer token)"},
    404: {"description": "no such service, request or token, or not in the caller's scope"},
    429: {"description": "too many public creates from this address"},
}


router = APIRouter(prefix=PREFIX, tags=["open311"], responses=_ANSWERS)


@router.get("/discovery.{fmt}", summary="Service discovery")
def discovery(call: CallDep) -> Response:
    who = call.submitter()
    base = str(call.request.base_url).rstrip("/") + PREFIX + "/v2/"
    return who.answer(
        "discovery", documents.discovery_doc(base, "2025-09-16T00:00:00Z", "gridwatch")
    )


@router.get("/v2/services.{fmt}", summary="GET Service List")
def services(call: CallDep, town: TownDep) -> Response:
    who = call.submitter()
    lang = call.lang(call.args())
    return who.answer("services", documents.services_doc(service.town_catalogue(town), lang))


@router.get("/v2/services/{code}.{fmt}", summary="GET Service Definition")
def service_definition(code: str, call: CallDep, town: TownDep) -> Response:
    who = call.submitter()
    lang = call.lang(call.args())
    found = service.town_catalogue(town).get(code)
    if found is None:
        raise Open311Error([(404, f"service_code={show(code)}: no such service")])
    return who.answer("service_definition", documents.definition_doc(found, lang))


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
def create_request(form: FormDep, call: CallDep, town: TownDep) -> Response:
    form_key = None if isinstance(form, Open311Error) else dict(form).get("api_key")
    # The caller first: an unauthenticated request learns nothing about its body.
    who = call.submitter(form_key)
    if isinstance(form, Open311Error):
        raise form
    req = parse_create(form, service.town_catalogue(town))
    client = call.client(who)
    if who.public:
        wait = call.public_limiter().hit(client)
        if wait:
            limited = Open311Error(
                [(429, f"too many requests from this address; retry in {wait:.0f} s")]
            )
            resp = error_answer(who.fmt, limited)
            resp.headers["Retry-After"] = str(max(1, int(wait)))
            return resp
    idem = call.request.headers.get("idempotency-key")
    if idem is not None and not (0 < len(idem.strip()) <= 128):
        raise Open311Error.bad("Idempotency-Key", idem, "1 to 128 characters")
    settings = call.settings
    # The intake runs as the service role, like the dispatcher: the caller's
    # credential authorised the report; routing decides whose case it becomes.
    created = service.create(
        call.conn,
        town,
        req,
        client=client,
        idempotency_key=idem,
        now=datetime.now(UTC),
        config_dir=settings.config_dir,
        zone=settings.zone,
        lang=call.lang(call.args()),
    )
    return who.answer("service_requests", created.document)


@router.get("/v2/requests.{fmt}", summary="GET Service Requests")
def list_requests(call: CallDep, town: TownDep) -> Response:
    who = call.reader()
    args = call.args()
    ctx = service.context(town, call.lang(args), call.settings.zone)
    query = parse_requests_query(args, ctx.catalogue, datetime.now(UTC))
    rows = store.fetch_cases(call.conn, query, residents_only=who.public)
    doc = service.request_documents(rows, ctx, extended=flag(args, "extended_attributes"))
    return who.answer("service_requests", doc)


@router.get("/v2/requests/{request_id}.{fmt}", summary="GET Service Request")
def get_request(request_id: str, call: CallDep, town: TownDep) -> Response:
    who = call.reader()
    args = call.args()
    ctx = service.context(town, call.lang(args), call.settings.zone)
    row = store.fetch_case(call.conn, case_id(request_id), residents_only=who.public)
    if row is None:
        # Outside the caller's scope reads the same as missing.
        raise Open311Error([(404, f"service_request_id={show(request_id)}: no such request")])
    doc = service.request_documents([row], ctx, extended=flag(args, "extended_attributes"))
    return who.answer("service_requests", doc)


@router.get("/v2/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
def get_token(token: str, call: CallDep) -> Response:
    # Whoever may submit may resolve the token they were given (a 128-bit secret).
    who = call.submitter()
    call.args()
    return who.answer("service_requests", service.token_document(call.conn, token))


def _open311_validation(request: Request, exc: Exception) -> Response | None:
    """A request FastAPI refused before the route ran (a NUL, say), in Open311's shape."""
    if not request.url.path.startswith(PREFIX + "/") or not isinstance(exc, RequestValidationError):
        return None
    problems: list[tuple[int, str]] = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "header", "body"))
        problems.append((400, f"{loc or 'request'}={show(e.get('input'))}: {e.get('msg')}"))
    return error_answer(
        format_of_path(request.url.path), Open311Error(problems or [(400, "bad request")])
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
        return error_answer(format_of_path(request.url.path), exc)

    async def handler(request: Request, exc: Exception) -> Response:
        mine = _open311_validation(request, exc)
        if mine is not None:
            return mine
        assert isinstance(exc, RequestValidationError)
        return await request_validation_exception_handler(request, exc)

    app.add_exception_handler(Open311Error, open311_error)
    app.add_exception_handler(RequestValidationError, handler)
