"""The town package's exceptions and the problem record every check returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file: which file, where inside it, the value, and why."""

    file: str
    where: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message} (value: {self.value})"


class TownError(Exception):
    """Base of every gridwatch.town error."""


class TownConfigError(TownError):
    """A town config that does not validate; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the town config:\n{lines}")


def short(value: object, limit: int = 120) -> str:
    """A value as text for a problem line, cut so a huge geometry does not flood the output."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
