"""The domain's words as pydantic field types, for the config models of every part.

A category written in a config file is kept as its plain id (a ``str``), checked
against :class:`gridwatch.domain.Category`, so a typo fails at load time naming the
value and the ids it may take. Imports only pydantic and :mod:`gridwatch.domain`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from gridwatch.domain import CATEGORIES


def _category(value: str) -> str:
    if value not in CATEGORIES:
        raise ValueError(f"unknown category {value!r}; use one of {list(CATEGORIES)}")
    return value


#: A problem category's id, as a field or a mapping key.
CategoryId = Annotated[str, AfterValidator(_category)]
