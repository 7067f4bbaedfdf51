"""The base of every response model: read from typed rows, refuse unknown fields."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar, cast, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model


class Public(BaseModel):
    """A response body; built from a row dataclass with ``model_validate(row)``."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


P = TypeVar("P", bound=Public)


def fields_of(
    row: type[Any],
    *,
    described: Mapping[str, str] | None = None,
    leave_out: Collection[str] = (),
) -> Callable[[type[P]], type[P]]:
    """Give the decorated model the fields of the row dataclass ``row``, in its order.

    The row stays the one home of a stored row's fields; the model's body declares
    only what the API shows otherwise (a narrower type, a field of its own) and
    keeps what its base declares. ``described`` documents row fields in the OpenAPI
    schema; ``leave_out`` names the columns the API does not show. mypy sees the
    body alone, so it refuses, never lets through, a field the body does not name.
    """
    described = described or {}

    def build(body: type[P]) -> type[P]:
        hints = get_type_hints(row)
        names = [f.name for f in dataclasses.fields(row) if f.name not in leave_out]
        own = body.model_fields
        stray = sorted(set(described) - (set(names) - set(own)))
        if stray:
            raise ValueError(
                f"{body.__name__}: described {stray} are not fields of {row.__name__}"
                " that the model takes as they are"
            )
        definitions: dict[str, Any] = {}
        for name in [*names, *own]:
            if name in own:
                definitions[name] = (own[name].annotation, copy.copy(own[name]))
            elif name not in definitions:
                definitions[name] = (hints[name], Field(description=described.get(name)))
        model = create_model(
            body.__name__,
            __base__=cast(type[Public], body.__base__),
            __doc__=body.__doc__,
            __module__=body.__module__,
            **definitions,
        )
        return cast(type[P], model)

    return build
