"""The town package's exceptions; each problem is a :class:`gridwatch.configfile.Problem`."""

from __future__ import annotations

from collections.abc import Sequence

from gridwatch.configfile import Problem


class TownError(Exception):
    """Base of every gridwatch.town error."""


class TownConfigError(TownError):
    """A town config that does not validate; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the town config:\n{lines}")
