"""The one error of this package: a bad Open311 argument, shown in the spec's error format."""

from __future__ import annotations

from collections.abc import Sequence


def show(value: object, limit: int = 80) -> str:
    """A value as an error message quotes it: repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Open311Error(Exception):
    """One or more problems with a request, each (HTTP status, description)."""

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        if not problems:
            raise ValueError("Open311Error needs at least one problem")
        self.problems = list(problems)
        super().__init__("; ".join(d for _, d in self.problems))

    @property
    def status(self) -> int:
        return max(code for code, _ in self.problems) if self.problems else 400

    @classmethod
    def bad(cls, field: str, value: object, expected: str) -> Open311Error:
        return cls([(400, f"{field}={show(value)}: {expected}")])
