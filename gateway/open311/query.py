"""``GET requests``: the spec's filters, checked, into one frozen query.

``service_request_id`` (comma list) overrides every other filter. Otherwise
``service_code`` and ``status`` (comma lists), ``start_date`` and ``end_date`` (W3C
date-times with a zone, at most 90 days apart; by default the most recent 90 days)
select on ``requested_datetime``. At most 1,000 requests come back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.open311.catalogue import Catalogue
from gateway.open311.errors import Open311Error
from gateway.open311.states import BaseStatus

MAX_SPAN = timedelta(days=90)
MAX_REQUESTS = 1000
MAX_IDS = 1000
#: Longest value of each query argument.
LIMITS: Mapping[str, int] = {
    "service_request_id": 20_000,
    "service_code": 2_000,
    "start_date": 40,
    "end_date": 40,
    "status": 20,
    "jurisdiction_id": 128,
    "extended_attributes": 5,
    "lang": 5,
    "api_key": 256,
}

# The W3C profile of ISO 8601 to seconds (fractions allowed), with Z or ±HH:MM.
_W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
_ID = re.compile(r"^[0-9]{1,18}$")


@dataclass(frozen=True, slots=True)
class RequestQuery:
    ids: tuple[int, ...] | None
    service_codes: tuple[str, ...] | None
    statuses: tuple[BaseStatus, ...] | None
    start: datetime
    end: datetime
    limit: int = MAX_REQUESTS


def parse_w3c(name: str, raw: str) -> datetime:
    if not _W3C.match(raw):
        raise Open311Error.bad(
            name, raw, "expected a W3C date-time with a zone, e.g. 2010-01-01T00:00:00Z"
        )
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error.bad(name, raw, f"not a valid date-time ({exc})") from exc


def case_id(raw: str, name: str = "service_request_id") -> int:
    """A service_request_id as our case id; Open311Error naming the value otherwise."""
    if not _ID.match(raw):
        raise Open311Error.bad(name, raw, "expected a service_request_id (digits)")
    return int(raw)


def _list(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    items = [p.strip() for p in raw.split(",") if p.strip()]
    return items or None


def checked_args(args: Mapping[str, str]) -> dict[str, str]:
    """Known arguments within their limits, empty ones dropped (the spec's "optional")."""
    out: dict[str, str] = {}
    for name, value in args.items():
        if "\x00" in value or "\x00" in name:
            raise Open311Error.bad(name, value, "a NUL character is not allowed")
        limit = LIMITS.get(name)
        if limit is None:
            continue
        if len(value) > limit:
            raise Open311Error.bad(name, value, f"at most {limit} characters, got {len(value)}")
        if value.strip():
            out[name] = value.strip()
    return out


def parse_requests_query(
    args: Mapping[str, str], catalogue: Catalogue, now: datetime
) -> RequestQuery:
    """The query, or Open311Error naming the argument and its value."""
    args = checked_args(args)
    ids_raw = _list(args.get("service_request_id"))
    ids = None
    if ids_raw is not None:
        if len(ids_raw) > MAX_IDS:
            raise Open311Error.bad(
                "service_request_id", f"{len(ids_raw)} ids", f"at most {MAX_IDS}"
            )
        ids = tuple(dict.fromkeys(case_id(p) for p in ids_raw))
    codes = _list(args.get("service_code"))
    if codes is not None:
        for code in codes:
            if catalogue.get(code) is None:
                raise Open311Error.bad(
                    "service_code", code, f"no such service; known: {list(catalogue.codes)}"
                )
    statuses_raw = _list(args.get("status"))
    statuses: list[BaseStatus] | None = None
    if statuses_raw is not None:
        statuses = []
        for s in statuses_raw:
            if s == "open":
                statuses.append("open")
            elif s == "closed":
                statuses.append("closed")
            else:
                raise Open311Error.bad("status", s, "expected open or closed")
    start = parse_w3c("start_date", args["start_date"]) if "start_date" in args else None
    end = parse_w3c("end_date", args["end_date"]) if "end_date" in args else None
    if start is not None and end is not None and end < start:
        raise Open311Error.bad(
            "end_date", args["end_date"], f"must not be before start_date {args['start_date']}"
        )
    if start is None and end is None:
        end = now
    if end is None:
        assert start is not None
        end = start + MAX_SPAN
    if start is None:
        start = end - MAX_SPAN
    if end - start > MAX_SPAN:
        raise Open311Error.bad(
            "end_date",
            args.get("end_date"),
            f"start_date to end_date may span at most 90 days, got {end - start}",
        )
    return RequestQuery(
        ids=ids,
        service_codes=tuple(codes) if codes else None,
        statuses=tuple(dict.fromkeys(statuses)) if statuses else None,
        start=start,
        end=end,
    )


def flag(args: Mapping[str, str], name: str) -> bool:
    """A true/false argument (``extended_attributes=true``)."""
    raw = args.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise Open311Error.bad(name, raw, "expected true or false")
