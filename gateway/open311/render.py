"""Open311 documents as JSON and as XML, from one tree of plain values.

XML follows the spec: a UTF-8 declaration, no namespace, lists as a plural element
holding singular items (``services``/``service``, ``service_requests``/``request``,
``attributes``/``attribute``, ``values``/``value``, ``errors``/``error``). JSON is
the same tree (the spec's "Spark convention"): the list itself, or one object.

Text goes through ElementTree, which escapes markup, after characters XML 1.0
cannot carry (NUL, other C0 controls, lone surrogates) are removed, so what a
resident typed can never break or inject into the document.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo

Format = Literal["json", "xml"]

Scalar: TypeAlias = str | int | float | bool | None
Node: TypeAlias = "Scalar | Sequence[Node] | Mapping[str, Node]"

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
MEDIA_TYPES: dict[Format, str] = {"json": JSON_TYPE, "xml": XML_TYPE}

#: Plural element -> the element of each item in it.
ITEM_OF: dict[str, str] = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


def clean_text(text: str) -> str:
    """``text`` without the characters an XML 1.0 document cannot hold."""
    return _NOT_XML.sub("", text)


def w3c(at: datetime, zone: ZoneInfo) -> str:
    """A W3C date-time in ``zone`` with its offset, to the second: 2025-09-16T09:00:00+08:00."""
    if at.tzinfo is None:
        raise ValueError(f"datetime {at!r} has no time zone")
    return at.astimezone(zone).replace(microsecond=0).isoformat()


def _scalar_text(value: Scalar) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return clean_text(str(value))


def _fill(element: ET.Element, value: Node) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, (list, tuple)):
        item = ITEM_OF.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _scalar_text(value)  # type: ignore[arg-type]


def to_xml(root: str, value: Node) -> bytes:
    """The document ``<root>`` holding ``value``, declaration included, UTF-8."""
    element = ET.Element(root)
    _fill(element, value)
    ET.indent(element, space="  ")
    return (_DECLARATION + ET.tostring(element, encoding="unicode") + "\n").encode("utf-8")


def _clean_json(value: Node) -> Node:
    if isinstance(value, Mapping):
        return {k: _clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v) for v in value]
    if isinstance(value, str):
        return clean_text(value)
    return value


def to_json(value: Node) -> bytes:
    return json.dumps(_clean_json(value), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render(fmt: Format, root: str, value: Node) -> bytes:
    """``value`` as ``fmt``; for XML, inside ``<root>`` (a list's items named by ITEM_OF)."""
    return to_xml(root, value) if fmt == "xml" else to_json(value)


def errors_document(errors: Sequence[tuple[int, str]]) -> Node:
    """The spec's error list: one ``{code, description}`` per problem."""
    return [{"code": code, "description": description} for code, description in errors]
