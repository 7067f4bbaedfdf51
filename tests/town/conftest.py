"""Towns for the town tests: generated once per session, copied per test when mutated."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from gridwatch.town.synth import SynthSpec, SynthTown, synth_town, write_config

#: Zhongmen's size: the size the locator and the validator must be fast for.
BIG = SynthSpec(seed=2, villages=12, grids=61, units=1114)
#: A small town for bad-file tests: every check still has siblings, parents and devices.
SMALL = SynthSpec(
    seed=3, villages=2, grids=4, units=12, cameras=4, sensors=3, demo_cameras=1, vacant_leaders=1
)


@dataclass(frozen=True)
class BuiltTown:
    spec: SynthSpec
    town: SynthTown
    path: Path


def _built(spec: SynthSpec, path: Path) -> BuiltTown:
    town = synth_town(spec)
    write_config(town, path, spec)
    return BuiltTown(spec, town, path)


@pytest.fixture(scope="session")
def big_town(tmp_path_factory: pytest.TempPathFactory) -> BuiltTown:
    return _built(BIG, tmp_path_factory.mktemp("big_town"))


@pytest.fixture(scope="session")
def small_town_master(tmp_path_factory: pytest.TempPathFactory) -> BuiltTown:
    return _built(SMALL, tmp_path_factory.mktemp("small_town"))


@pytest.fixture
def small_town(small_town_master: BuiltTown, tmp_path: Path) -> BuiltTown:
    """A fresh copy of the small town's config folder that the test may break."""
    path = tmp_path / "config"
    shutil.copytree(small_town_master.path, path)
    return BuiltTown(small_town_master.spec, small_town_master.town, path)
