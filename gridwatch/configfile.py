"""Reading one config file: parse it, validate it, and say every problem in one shape.

Each problem names the file, the path inside it, the value and what was wrong,
whatever part the file belongs to (the town's files, the dispatcher's tables), so
``gridwatch config check`` prints them all alike. Imports only pydantic and PyYAML.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

#: libyaml's safe loader is ~10x faster than the pure-Python one; same results and error marks.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file: which file, where inside it, the value, and why."""

    file: str
    where: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message} (value: {self.value})"


def short(value: object, limit: int = 120) -> str:
    """A value as text for a problem line, cut so a huge geometry does not flood the output."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _NotParsed:
    """Marker for a file that could not be parsed (its problem is already recorded)."""


NOT_PARSED = _NotParsed()


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a number JSON allows")


def _parse(path: Path, problems: list[Problem], parse: Callable[[str, str], Any]) -> Any:
    """Read ``path`` and ``parse(text, name)`` it; a problem and NOT_PARSED when either fails.

    ``parse`` raises :class:`_Unparsed` carrying the problem it found.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(name, "(file)", name, "file not found"))
        return NOT_PARSED
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, "(file)", type(exc).__name__, f"cannot read: {exc}"))
        return NOT_PARSED
    try:
        return parse(text, name)
    except _Unparsed as exc:
        problems.append(exc.problem)
        return NOT_PARSED


class _Unparsed(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _json(text: str, name: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        snippet = repr(text[exc.pos : exc.pos + 20])
        raise _Unparsed(Problem(name, where, snippet, f"not JSON: {exc.msg}")) from exc
    except ValueError as exc:
        raise _Unparsed(Problem(name, "(file)", str(exc).split()[0], f"not JSON: {exc}")) from exc


def _yaml(text: str, name: str) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "(file)"
        lines = text.splitlines()
        snippet = lines[mark.line] if mark and mark.line < len(lines) else ""
        message = f"not YAML: {exc}".split("\n")[0]
        raise _Unparsed(Problem(name, where, repr(snippet[:60]), message)) from exc
    except ValueError as exc:
        # PyYAML builds dates itself: 2027-02-30 fails in datetime.date, outside YAMLError.
        raise _Unparsed(Problem(name, "(file)", str(exc), f"not YAML: {exc}")) from exc


def read_json(path: Path, problems: list[Problem]) -> Any:
    """Parse a JSON file; on failure record a problem and return NOT_PARSED."""
    return _parse(path, problems, _json)


def read_yaml(path: Path, problems: list[Problem]) -> Any:
    """Parse a YAML file; on failure record a problem and return NOT_PARSED."""
    return _parse(path, problems, _yaml)


def loc_path(root: str, loc: Sequence[int | str], data: Any = None) -> str:
    """A pydantic error location as a path: ``[i]`` into lists, ``.key`` into mappings.

    ``data`` (what was validated) tells a list index from an integer mapping key;
    pydantic's own markers (``[key]``, ``function-...``, the tag of a union
    discriminated on ``type``) are left out.
    """
    out = root
    node = data
    for part in loc:
        if part == "[key]" or (isinstance(part, str) and part.startswith("function-")):
            continue
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue  # the tag of a union discriminated on type: already in the data
        if isinstance(part, int) and not isinstance(node, dict):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def validation_problems(
    exc: ValidationError, file: str, root: str = "", data: Any = None
) -> list[Problem]:
    """Every error of one validation, each as a Problem under ``root``."""
    problems = []
    for err in exc.errors():
        value = err.get("input", data)
        where = loc_path(root, err["loc"], data) or "(top level)"
        # A validator's own ValueError already says what was expected; drop pydantic's label.
        message = err["msg"].removeprefix("Value error, ")
        problems.append(Problem(file, where, short(value), message))
    return problems


def check_file(path: Path, model: type[M]) -> tuple[list[Problem], M | None]:
    """Read a YAML file and validate it as ``model`` (an empty file is ``{}``)."""
    problems: list[Problem] = []
    data = read_yaml(path, problems)
    if data is NOT_PARSED:
        return problems, None
    data = {} if data is None else data
    try:
        return problems, model.model_validate(data)
    except ValidationError as exc:
        return validation_problems(exc, str(path), "", data), None
