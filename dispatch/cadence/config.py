"""``cadence.yaml``: when fortnights start, the fortnightly ranking's formula, points.

A missing file means the defaults below; a wrong key or value fails ``gridwatch
config check`` naming the file, the key and the value.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from dispatch.cadence.formulas import Weights
from dispatch.errors import ConfigError
from gridwatch.configfile import Problem, check_file

CADENCE_FILE = "cadence.yaml"


class WeightsConfig(BaseModel):
    """``score = on_time_rate x w - overdue x w - reopen_rate x w - accept_hours x w``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_time_rate: float = Field(
        100.0, ge=0, le=10_000, description="Per unit of on-time rate (0..1)"
    )
    overdue: float = Field(5.0, ge=0, le=10_000, description="Per overdue case")
    reopen_rate: float = Field(20.0, ge=0, le=10_000, description="Per unit of reopen rate (0..1)")
    accept_hours: float = Field(1.0, ge=0, le=10_000, description="Per mean hour to accept")

    def weights(self) -> Weights:
        return Weights(self.on_time_rate, self.overdue, self.reopen_rate, self.accept_hours)


class RankingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_cases: int = Field(3, ge=1, le=10_000, description="Fewer cases: listed as not ranked")
    bottom: int = Field(5, ge=1, le=100, description="How many of the lowest are named")
    named_limit: int = Field(
        2, ge=1, le=100, description="Named this many fortnights in total: called in"
    )
    weights: WeightsConfig = Field(default_factory=WeightsConfig)


class PointsConfig(BaseModel):
    """Points (积分) each event adds or removes; ``docs/reports.md`` says which event is which."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_time_closure: int = Field(3, ge=0, le=1000, description="A case closed on time")
    verified: int = Field(1, ge=0, le=1000, description="A resolution verified by the grid")
    satisfied: int = Field(2, ge=0, le=1000, description="A satisfied follow-up (回访满意)")
    overdue: int = Field(3, ge=0, le=1000, description="Removed: a deadline missed (once a kind)")
    returned: int = Field(2, ge=0, le=1000, description="Removed: returned for rework (退回重办)")


class CadenceConfig(BaseModel):
    """The contents of ``cadence.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fortnight_start: dt.date = Field(
        dt.date(2025, 1, 6), description="The first day of the first fortnight"
    )
    ranking: RankingConfig = Field(default_factory=RankingConfig)
    points: PointsConfig = Field(default_factory=PointsConfig)


def check_cadence(config_dir: Path) -> tuple[list[Problem], CadenceConfig | None]:
    """Every problem of ``cadence.yaml``, and the config when there is none."""
    path = config_dir / CADENCE_FILE
    if not path.exists():
        return [], CadenceConfig()
    return check_file(path, CadenceConfig)


def load_cadence(config_dir: Path) -> CadenceConfig:
    problems, config = check_cadence(config_dir)
    if config is None:
        raise ConfigError("\n".join(str(p) for p in problems))
    return config
