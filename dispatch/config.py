"""Dispatch configuration: ``deadlines.yaml`` and ``routing.yaml`` in the town's config folder.

Category keys in both files must be ids of :class:`gridwatch.domain.Category`, so a
typo fails ``gridwatch config check`` (and the dispatcher's start) naming the file,
the key and the value, in the same problem lines as the town's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from dispatch.deadlines import DeadlineRule, DeadlineTable, Severity
from dispatch.errors import ConfigError
from dispatch.merge import MergeRule, MergeTable
from gridwatch.configfile import Problem, check_file
from gridwatch.fields import CategoryId

DEADLINES_FILE = "deadlines.yaml"
ROUTING_FILE = "routing.yaml"


class DeadlinesFile(DeadlineTable):
    """``deadlines.yaml``: the deadline table, its category keys checked."""

    categories: dict[CategoryId, dict[Severity, DeadlineRule]] = Field(default_factory=dict)


class MergeFile(MergeTable):
    """``merge:`` of ``routing.yaml``, its category keys checked."""

    categories: dict[CategoryId, MergeRule] = Field(default_factory=dict)


class RoutingFile(BaseModel):
    """``routing.yaml``: merge windows per category (departments live in departments.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    merge: MergeFile = Field(default_factory=lambda: MergeFile())


def default_deadlines() -> DeadlineTable:
    """Used when a town ships no ``deadlines.yaml``."""
    return DeadlineTable(
        default={
            1: DeadlineRule(accept_minutes=15, resolve_minutes=4 * 60),
            2: DeadlineRule(accept_minutes=30, resolve_minutes=24 * 60),
            3: DeadlineRule(accept_minutes=120, resolve_minutes=3 * 24 * 60),
            4: DeadlineRule(accept_minutes=480, resolve_minutes=7 * 24 * 60),
        }
    )


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    deadlines: DeadlineTable
    merge: MergeTable


def check_config(config_dir: Path) -> tuple[list[Problem], DispatchConfig | None]:
    """Every problem of the two files, and the tables when there is none.

    A missing file means the built-in defaults.
    """
    problems: list[Problem] = []
    deadlines: DeadlineTable | None = default_deadlines()
    routing: RoutingFile | None = RoutingFile()
    dl = config_dir / DEADLINES_FILE
    if dl.exists():
        found, deadlines = check_file(dl, DeadlinesFile)
        problems += found
    rt = config_dir / ROUTING_FILE
    if rt.exists():
        found, routing = check_file(rt, RoutingFile)
        problems += found
    if deadlines is None or routing is None:
        return problems, None
    return problems, DispatchConfig(deadlines=deadlines, merge=routing.merge)


def load_config(config_dir: Path) -> DispatchConfig:
    """Read the dispatch tables; ConfigError listing every problem, one a line."""
    problems, config = check_config(config_dir)
    if config is None:
        raise ConfigError("\n".join(str(p) for p in problems))
    return config
