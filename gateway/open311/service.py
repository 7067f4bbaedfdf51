"""Open311 use cases on a connection: create through the case intake, read requests, tokens.

No FastAPI here: the router parses HTTP and calls these with a checked request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from pydantic import ValidationError

from dispatch.config import DispatchConfig, load_config
from dispatch.reports import Report, intake_report
from gateway.auth.store import audit
from gateway.open311 import documents, store
from gateway.open311.catalogue import Catalogue, Lang, Text, build_catalogue
from gateway.open311.errors import Open311Error, show
from gateway.open311.forms import CreateRequest
from gateway.open311.render import Node
from gridwatch.domain import Category
from gridwatch.town import Town


@lru_cache(maxsize=4)
def dispatch_config(config_dir: Path) -> DispatchConfig:
    """The town's dispatch tables, read once per process (a change needs a restart)."""
    return load_config(config_dir)


def town_catalogue(town: Town) -> Catalogue:
    return build_catalogue(town)


def context(town: Town, lang: Lang, zone: ZoneInfo) -> documents.Context:
    def agency(department_id: str | None) -> Text | None:
        dept = town.departments.get(department_id) if department_id else None
        return Text(dept.name, dept.name_en) if dept else None

    def place(unit_id: str | None) -> str | None:
        if unit_id is None or unit_id not in town.hierarchy.areas:
            return None
        # Most specific to most general, as the spec asks of an address.
        return ", ".join(a.name for a in town.hierarchy.chain(unit_id))

    return documents.Context(town_catalogue(town), lang, zone, agency, place)


def _raised_by(req: CreateRequest, client: str) -> str:
    for contact in (req.account_id, req.phone, req.email, req.device_id):
        if contact:
            return contact
    return f"open311 {client}"[:128]


def check_place(town: Town, req: CreateRequest) -> None:
    """The point or unit must be in the town: routing cannot give it to anyone otherwise."""
    if req.address_id is not None:
        area = town.hierarchy.areas.get(req.address_id)
        if area is None or area.level != "unit":
            raise Open311Error.bad(
                "address_id", req.address_id, "expected the id of a unit of this town"
            )
        return
    if (
        req.lat is not None
        and req.lon is not None
        and town.hierarchy.locate(req.lon, req.lat) is None
    ):
        raise Open311Error.bad(
            "lat/long", f"{req.lat},{req.lon}", "the point is in no unit of this town"
        )


@dataclass(frozen=True, slots=True)
class Created:
    document: list[Node]
    case_id: int | None
    token: str
    replayed: bool


def create(
    conn: psycopg.Connection[Any],
    town: Town,
    req: CreateRequest,
    *,
    client: str,
    idempotency_key: str | None,
    now: datetime,
    config_dir: Path,
    zone: ZoneInfo,
    lang: Lang,
) -> Created:
    """Store the request, open or join its case through the intake, answer the spec's way.

    A realtime service answers the case id; a batch service (residents' wishes and
    voices) answers a token, resolved through ``tokens/{token}``.
    """
    check_place(town, req)
    row, fresh = store.claim(conn, req, client=client, idempotency_key=idempotency_key, at=now)
    case_id = row.case_id
    if fresh:
        description = req.description or req.service.name("zh")
        try:
            report = Report(
                category=Category(req.service.category),
                description=description,
                raised_by=_raised_by(req, client),
                lon=req.lon,
                lat=req.lat,
                unit_id=req.address_id,
                severity=req.service.severity,
                reported_at=now,
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "request"
            raise Open311Error.bad(field, err.get("input"), err["msg"]) from exc
        case_id = intake_report(conn, town, report, config=dispatch_config(config_dir), tz=zone)
        store.link(conn, row.token, case_id)
        audit(
            conn,
            client,
            "open311.create",
            str(case_id),
            data={"token": row.token, "service_code": req.service.code},
        )
    service = town_catalogue(town).get(row.service_code) or req.service
    ctx = context(town, lang, zone)
    case = store.fetch_case(conn, case_id) if case_id is not None else None
    notice = documents.notice(
        ctx.agency(case.department_id if case else None), case.resolve_by if case else None, ctx
    )
    shown_id = case_id if service.type == "realtime" else None
    doc = documents.created_doc(
        case_id=shown_id, token=row.token, service_notice=notice, account_id=row.account_id
    )
    return Created(doc, case_id, row.token, not fresh)


def request_documents(
    rows: list[documents.CaseRow], ctx: documents.Context, *, extended: bool
) -> list[Node]:
    return [documents.request_doc(r, ctx, extended=extended) for r in rows]


def token_document(conn: psycopg.Connection[Any], token: str) -> list[Node]:
    if len(token) > 64 or not token.replace("-", "").replace("_", "").isalnum():
        raise Open311Error.bad("token", token, "expected a token from POST requests")
    row = store.by_token(conn, token)
    if row is None:
        raise Open311Error([(404, f"token={show(token)}: no such token")])
    return documents.token_doc(row.token, row.case_id)


def lang_of(args: Mapping[str, str], accept_language: str | None, default: str) -> Lang:
    """``lang=zh|en``, else the first of zh/en in Accept-Language, else the deployment's."""
    asked = args.get("lang", "").strip().lower()
    if asked:
        if asked in ("zh", "en"):
            return "zh" if asked == "zh" else "en"
        raise Open311Error.bad("lang", asked, "expected zh or en")
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en" if default == "en" else "zh"
