"""The error answers every route can give, declared in the OpenAPI from its dependencies.

FastAPI declares 200 and, for routes with parameters, 422; the 401 of a route that
authenticates, the 403 of one behind ``require(...)``, the 400 FastAPI gives for a
body it cannot decode and the 422 the app-wide NUL guard gives on any route were
missing, so clients and schemathesis met answers the schema did not list. They are
read from each route's dependencies, so a new route cannot forget them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel

from gateway.api.deps import RoleCheck


class ErrorPublic(BaseModel):
    """An error: what went wrong, in English and Chinese."""

    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorPublic(BaseModel):
    """422: each field that was refused, and why."""

    detail: list[ValidationIssue]


def _answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    """One declared answer: its body's model and what it means."""
    return {"model": model, "description": description}


UNAUTHORIZED = _answer(ErrorPublic, "No valid token or API key / 未登录或令牌无效")
FORBIDDEN = _answer(ErrorPublic, "This role may not do this / 无此权限")
UNREADABLE = _answer(
    ErrorPublic, "The body could not be read (not UTF-8, not JSON...) / 请求体无法解析"
)
INVALID = _answer(
    ValidationErrorPublic, "A value was refused (a NUL character, a wrong type...) / 参数无效"
)


def _walk(dependant: Dependant) -> list[Dependant]:
    out = [dependant]
    for sub in dependant.dependencies:
        out.extend(_walk(sub))
    return out


def _has_params(dependant: Dependant) -> bool:
    return bool(
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
    )


def declare_errors(routes: Iterable[APIRoute]) -> None:
    """Add the 401, 403 and 422 each route can answer to its declared responses."""
    for route in routes:
        tree = _walk(route.dependant)
        if any(isinstance(d.call, SecurityBase) for d in tree):
            route.responses.setdefault(401, UNAUTHORIZED)
        if any(isinstance(d.call, RoleCheck) for d in tree):
            route.responses.setdefault(403, FORBIDDEN)
        if route.body_field is not None:
            # FastAPI's answer to a body it cannot decode, before any field is read.
            route.responses.setdefault(400, UNREADABLE)
        # FastAPI declares its own 422 where a route or one of its dependencies has
        # parameters, or a body.
        if not (route.body_field or any(_has_params(d) for d in tree)):
            route.responses.setdefault(422, INVALID)
