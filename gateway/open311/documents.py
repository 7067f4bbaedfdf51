"""The Open311 documents, built from the catalogue and case rows as plain trees for render.

Field names and order are the spec's; each request also carries the grid
extensions ``unit_id``, ``grid_id``, ``village_id`` and ``escalation_level``, and
``expected_datetime`` from the resolve-by deadline in GRIDWATCH_TZ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from dispatch import rows as cases
from gateway.open311.catalogue import Catalogue, Lang, Service, Text
from gateway.open311.render import Node, w3c
from gateway.open311.states import shown

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"


@dataclass(frozen=True, slots=True)
class CaseRow(cases.CaseRow):
    """A case, and the Open311 request that raised it (None for a case raised otherwise)."""

    service_code: str | None = None
    address_string: str | None = None
    media_url: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """The town-dependent parts of a document: language, zone, names of places and offices."""

    catalogue: Catalogue
    lang: Lang
    zone: ZoneInfo
    agency: Callable[[str | None], Text | None]
    place: Callable[[str | None], str | None]


def service_doc(service: Service, lang: Lang) -> dict[str, Node]:
    return {
        "service_code": service.code,
        "service_name": service.name(lang),
        "description": service.description(lang),
        "metadata": service.metadata,
        "type": service.type,
        "keywords": ", ".join(service.keywords),
        "group": service.group,
    }


def services_doc(catalogue: Catalogue, lang: Lang) -> list[Node]:
    return [service_doc(s, lang) for s in catalogue.services]


def definition_doc(service: Service, lang: Lang) -> dict[str, Node]:
    attributes: list[Node] = []
    for a in service.attributes:
        item: dict[str, Node] = {
            "variable": a.variable,
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "datatype_description": None,
            "order": a.order,
            "description": a.description(lang),
        }
        if a.values:
            item["values"] = [{"key": v.key, "name": v.name(lang)} for v in a.values]
        attributes.append(item)
    return {"service_code": service.code, "attributes": attributes}


def notice(agency: Text | None, due: datetime | None, ctx: Context) -> str:
    """What happens next, for the person who raised it."""
    office = agency(ctx.lang) if agency else ("网格" if ctx.lang == "zh" else "the grid")
    if due is None:
        return f"已交{office}办理" if ctx.lang == "zh" else f"handed to {office}"
    when = due.astimezone(ctx.zone).strftime("%Y-%m-%d %H:%M")
    if ctx.lang == "zh":
        return f"已交{office}办理，办结期限 {when}"
    return f"handed to {office}; due by {when}"


def _status_notes(row: CaseRow, lang: Lang) -> str:
    state = shown(row.status)
    notes = [state.zh if lang == "zh" else state.en]
    if row.duplicate_of is not None:
        notes.append(
            f"并入 #{row.duplicate_of}" if lang == "zh" else f"merged into #{row.duplicate_of}"
        )
    if row.mediation_outcome:
        label = "调解结果" if lang == "zh" else "mediation outcome"
        notes.append(f"{label}: {row.mediation_outcome}")
    return "; ".join(notes)


def request_doc(row: CaseRow, ctx: Context, *, extended: bool = False) -> dict[str, Node]:
    service = ctx.catalogue.for_case(row.category, row.service_code)
    state = shown(row.status)
    agency = ctx.agency(row.department_id)
    doc: dict[str, Node] = {
        "service_request_id": str(row.id),
        "status": state.fms if extended else state.base,
        "status_notes": _status_notes(row, ctx.lang),
        "service_name": service.name(ctx.lang),
        "service_code": service.code,
        "description": row.description or row.summary,
        "agency_responsible": agency(ctx.lang) if agency else None,
        "service_notice": notice(agency, row.resolve_by, ctx),
        "requested_datetime": w3c(row.opened_at, ctx.zone),
        "updated_datetime": w3c(row.updated_at, ctx.zone),
        "expected_datetime": w3c(row.resolve_by, ctx.zone) if row.resolve_by else None,
        "address": row.address_string or ctx.place(row.unit_id),
        "address_id": row.unit_id,
        "zipcode": None,
        "lat": row.lat,
        "long": row.lon,
        "media_url": row.media_url,
        "unit_id": row.unit_id,
        "grid_id": row.grid_id,
        "village_id": row.village_id,
        "escalation_level": row.escalation_level,
    }
    if extended:
        doc["extended_attributes"] = {
            "case_status": row.status,
            "recurrence": row.recurrence,
            "duplicate_of": str(row.duplicate_of) if row.duplicate_of is not None else None,
            "mediation_outcome": row.mediation_outcome,
            "accept_by": w3c(row.accept_by, ctx.zone) if row.accept_by else None,
        }
    return doc


def created_doc(
    *, case_id: int | None, token: str, service_notice: str, account_id: str | None
) -> list[Node]:
    """The POST answer: the case id, or (for a batch service) the token to resolve later."""
    item: dict[str, Node] = (
        {"service_request_id": str(case_id)} if case_id is not None else {"token": token}
    )
    item["service_notice"] = service_notice
    item["account_id"] = account_id
    return [item]


def token_doc(token: str, case_id: int | None) -> list[Node]:
    return [{"service_request_id": str(case_id) if case_id is not None else None, "token": token}]


def discovery_doc(base_url: str, changeset: str, contact: str) -> Mapping[str, Node]:
    """The Service Discovery document for this endpoint."""
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": "gridwatch keys create --name NAME --role platform",
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": base_url,
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
