"""Shared query-parameter shapes and the guard that refuses NUL characters anywhere.

PostgreSQL refuses a NUL in text with an error, which used to surface as a 500
(``GET /cases?unit=%00``). Every request's query values and headers are checked
first, and a NUL is a 422 that names the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BeforeValidator

#: An id as the config writes it (``gridwatch.town.models.ID_PATTERN``), without NUL.
ID_PATTERN = r"^[^\s,\x00]{1,64}$"


def id_query(description: str) -> Any:
    """``Query`` for an area, department, device or person id."""
    return Query(min_length=1, max_length=64, pattern=ID_PATTERN, description=description)


async def refuse_nul(request: Request) -> None:
    """422 naming the first query value or header that holds a NUL character.

    ``async``: as a sync dependency it would cost every request a thread-pool hop.
    """
    errors: list[dict[str, Any]] = []
    for key, value in request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            errors.append(_nul_error("query", key, value))
    for key, value in request.headers.items():
        if "\x00" in value:
            errors.append(_nul_error("header", key, value))
    if errors:
        raise RequestValidationError(errors)


def _nul_error(where: str, key: str, value: str) -> dict[str, Any]:
    return {
        "type": "string_pattern_mismatch",
        "loc": (where, key.replace("\x00", "\\x00")),
        "msg": f"{key!r} must not contain a NUL character / 不得含 NUL 字符",
        "input": value.replace("\x00", "\\x00")[:64],
    }


_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$"
)


def _iso_only(value: Any) -> Any:
    """Only an ISO 8601 date-time with an offset; pydantic alone would read ``0.5`` as 1970."""
    if isinstance(value, str) and not _ISO_DATETIME.match(value):
        raise ValueError(
            f"{value[:40]!r} is not an ISO 8601 date-time with an offset, "
            "e.g. 2026-12-03T08:00:00+08:00"
        )
    return value


#: A date-time query value: ISO 8601 with a UTC offset, nothing else.
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_only)]
