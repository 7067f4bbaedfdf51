"""``POST requests``: the spec's form fields, checked, into one frozen request.

The spec's fields come form-encoded (``application/x-www-form-urlencoded``) or as
multipart: ``api_key``, ``service_code``, ``lat`` and ``long`` or ``address_string``
or ``address_id``, ``description`` (up to 4,000 characters), ``media_url``,
``first_name``, ``last_name``, ``email``, ``phone``, ``device_id``, ``account_id``,
and ``attribute[CODE]=value`` (``attribute[CODE][]=value`` repeated for a
multivaluelist). ``jurisdiction_id`` is accepted and ignored: one endpoint, one town.
Every problem is collected and named with its field and value; none reaches the
intake as an exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gateway.open311.catalogue import Attribute, Catalogue, Service
from gateway.open311.errors import Open311Error, show

#: Longest value accepted per field (description: the spec's 4,000 characters).
LIMITS: Mapping[str, int] = {
    "api_key": 256,
    "jurisdiction_id": 128,
    "service_code": 64,
    "lat": 32,
    "long": 32,
    "address_string": 500,
    "address_id": 64,
    "email": 254,
    "device_id": 128,
    "account_id": 128,
    "first_name": 64,
    "last_name": 64,
    "phone": 32,
    "description": 4000,
    "media_url": 2048,
}
#: Attributes a client may send beyond the service definition (FixMyStreet sends
#: several of its own); kept with the request, within these limits.
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_VALUES = 16
ATTRIBUTE_LIMIT = 500

_ATTRIBUTE_KEY = re.compile(r"^attribute\[([A-Za-z0-9_.\-]{1,64})\](\[\])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{2,30}$")
_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
#: C0 controls other than tab and line breaks, and DEL: nothing a person means to type.
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A checked ``POST requests``."""

    service: Service
    api_key: str | None
    lat: float | None
    lon: float | None
    address_string: str | None
    address_id: str | None
    description: str | None
    media_url: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    device_id: str | None
    account_id: str | None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None


def _collect(
    items: Iterable[tuple[str, str]], problems: list[tuple[int, str]]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    fields: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for key, raw in items:
        if len(key) > 80 or "\x00" in key:
            problems.append((400, f"field name {show(key)} is not a GeoReport v2 field"))
            continue
        value = _CONTROL.sub("", raw.strip())
        if "\x00" in raw:
            problems.append((400, f"{key}={show(value)}: a NUL character is not allowed"))
            continue
        match = _ATTRIBUTE_KEY.match(key)
        if match is not None:
            values = attributes.setdefault(match[1], [])
            if len(attributes) > MAX_ATTRIBUTES:
                problems.append((400, f"{key}: at most {MAX_ATTRIBUTES} attributes"))
                attributes.pop(match[1])
            elif len(values) >= MAX_ATTRIBUTE_VALUES:
                problems.append((400, f"{key}: at most {MAX_ATTRIBUTE_VALUES} values"))
            elif len(value) > ATTRIBUTE_LIMIT:
                problems.append((400, f"{key}={show(value)}: at most {ATTRIBUTE_LIMIT} characters"))
            elif value:
                values.append(value)
            continue
        if key not in LIMITS:
            continue  # Open311 clients send their own extras; only the spec's fields count.
        if key in fields:
            problems.append((400, f"{key}: given more than once"))
            continue
        if len(value) > LIMITS[key]:
            problems.append(
                (400, f"{key}={show(value)}: at most {LIMITS[key]} characters, got {len(value)}")
            )
            continue
        if value:
            # "Optional" in the spec: an empty value is the same as none.
            fields[key] = value
    return fields, attributes


def _coordinate(
    fields: Mapping[str, str], name: str, bound: float, problems: list[tuple[int, str]]
) -> float | None:
    raw = fields.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > bound:
        expected = f"expected a WGS-84 number in [-{bound}, {bound}]"
        problems.append((400, f"{name}={show(raw)}: {expected}"))
        return None
    return value


def _check_attribute(spec: Attribute, values: list[str], problems: list[tuple[int, str]]) -> None:
    key = f"attribute[{spec.code}]"
    if spec.datatype == "singlevaluelist" and len(values) > 1:
        problems.append((400, f"{key}: one value expected, got {len(values)}"))
    if spec.values:
        for v in values:
            if v not in spec.keys():  # noqa: SIM118 (Attribute.keys, not a dict)
                problems.append((400, f"{key}={show(v)}: expected one of {sorted(spec.keys())}"))
    if spec.datatype == "number":
        for v in values:
            try:
                float(v)
            except ValueError:
                problems.append((400, f"{key}={show(v)}: expected a number"))


def parse_create(items: Iterable[tuple[str, str]], catalogue: Catalogue) -> CreateRequest:
    """The checked request, or Open311Error listing every problem (400; 404 unknown service)."""
    problems: list[tuple[int, str]] = []
    fields, attributes = _collect(items, problems)
    code = fields.get("service_code")
    service = catalogue.get(code) if code is not None else None
    if code is None:
        problems.append((400, "service_code: required; GET services lists the codes"))
    elif service is None:
        known = list(catalogue.codes)
        problems.append((404, f"service_code={show(code)}: no such service; known: {known}"))
    lat = _coordinate(fields, "lat", 90, problems)
    lon = _coordinate(fields, "long", 180, problems)
    if ("lat" in fields) != ("long" in fields):
        given = "lat" if "lat" in fields else "long"
        problems.append((400, f"{given}={show(fields[given])}: lat and long must be sent together"))
    has_point = "lat" in fields and "long" in fields
    if not has_point and "address_id" not in fields and "address_string" not in fields:
        problems.append(
            (400, "location: one of lat & long, address_string or address_id is required")
        )
    if not has_point and "address_id" not in fields and "address_string" in fields:
        problems.append(
            (
                400,
                f"address_string={show(fields['address_string'])}: this endpoint cannot place a"
                " written address on the map; send lat & long, or address_id (a unit id)",
            )
        )
    email = fields.get("email")
    if email is not None and not _EMAIL.match(email):
        problems.append((400, f"email={show(email)}: expected an e-mail address"))
    phone = fields.get("phone")
    if phone is not None and not _PHONE.match(phone):
        problems.append((400, f"phone={show(phone)}: expected a phone number (digits, + - ( ))"))
    media_url = fields.get("media_url")
    if media_url is not None and not _URL.match(media_url):
        problems.append((400, f"media_url={show(media_url)}: expected an http or https URL"))
    if service is not None:
        for spec in service.attributes:
            sent = attributes.get(spec.code, [])
            if spec.required and spec.variable and not sent:
                problems.append(
                    (400, f"attribute[{spec.code}]: required by service {service.code!r}")
                )
            elif sent:
                _check_attribute(spec, sent, problems)
    if problems:
        raise Open311Error(problems)
    assert service is not None
    return CreateRequest(
        service=service,
        api_key=fields.get("api_key"),
        lat=lat,
        lon=lon,
        address_string=fields.get("address_string"),
        address_id=fields.get("address_id"),
        description=fields.get("description"),
        media_url=media_url,
        first_name=fields.get("first_name"),
        last_name=fields.get("last_name"),
        email=email,
        phone=phone,
        device_id=fields.get("device_id"),
        account_id=fields.get("account_id"),
        attributes={k: tuple(v) for k, v in attributes.items() if v},
    )
