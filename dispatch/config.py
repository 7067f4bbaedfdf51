"""Dispatch configuration: ``deadlines.yaml`` and ``routing.yaml`` in the town's config folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatch.deadlines import DeadlineRule, DeadlineTable
from dispatch.errors import ConfigError
from dispatch.merge import MergeTable

M = TypeVar("M", bound=BaseModel)


class RoutingFile(BaseModel):
    """``routing.yaml``: merge windows per category (departments live in departments.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    merge: MergeTable = Field(default_factory=lambda: MergeTable())


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


def _load(path: Path, model: type[M]) -> M:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML: {exc}") from exc
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (value {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


def load_config(config_dir: Path) -> DispatchConfig:
    """Read the dispatch tables; a missing file means the built-in defaults."""
    dl = config_dir / "deadlines.yaml"
    rt = config_dir / "routing.yaml"
    deadlines = _load(dl, DeadlineTable) if dl.exists() else default_deadlines()
    routing = _load(rt, RoutingFile) if rt.exists() else RoutingFile()
    return DispatchConfig(deadlines=deadlines, merge=routing.merge)
