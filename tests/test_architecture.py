"""The design's import rules (pyproject's import-linter contracts) hold, and they bite.

The contracts are only worth having if a breach fails them, so the breach tests write a
forbidden import into a copy of the packages and check that lint-imports names the broken
contract and the chain that breaks it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("gridwatch", "gateway", "detectors", "dispatch", "edge")
#: What the MQTT contract may import besides the standard library.
CONTRACT_ALLOWED = frozenset({"pydantic", "pydantic_core"})


@dataclass(frozen=True)
class Lint:
    returncode: int
    output: str


def lint_imports(root: Path) -> Lint:
    """Run lint-imports over the packages under ``root``, as CI runs it there."""
    env = dict(os.environ, PYTHONPATH=str(root), COLUMNS="200", NO_COLOR="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command;"
            " sys.exit(lint_imports_command())",
            "--no-cache",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Lint(proc.returncode, proc.stdout + proc.stderr)


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.output
    assert "BROKEN" not in result.output


def test_the_contract_imports_only_pydantic_and_the_standard_library() -> None:
    # The forbidden contract lists what it may not import; this is the positive form,
    # so a new dependency of the contract fails even before pyproject names it.
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)
    imported = graph.find_modules_directly_imported_by("gateway.contract")
    tops = {name.split(".")[0] for name in imported}
    extra = tops - set(sys.stdlib_module_names) - CONTRACT_ALLOWED - {"__future__"}
    assert not extra, f"gateway.contract imports {sorted(extra)}; only pydantic is allowed"


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python packages and pyproject.toml, copied once; breach tests copy this."""
    root = tmp_path_factory.mktemp("tree")
    keep_py = shutil.ignore_patterns("__pycache__", "*.pyc", "*.sql", "*.html", "*.js", "*.css")
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package, ignore=keep_py)
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@dataclass(frozen=True)
class Breach:
    """Modules to add to a copy of the tree, and what lint-imports must then report."""

    files: dict[str, str]
    contract: str
    chain: tuple[str, ...]


BREACHES = {
    "dispatch imports detectors": Breach(
        {"dispatch/breach.py": "import detectors\n"},
        "dispatch imports no edge, no detectors and no FastAPI",
        ("dispatch.breach -> detectors",),
    ),
    "dispatch reaches detectors through a shared module": Breach(
        {
            "dispatch/breach.py": "from gridwatch import breach_helper\n",
            "gridwatch/breach_helper.py": "import detectors.engine\n",
        },
        "dispatch imports no edge, no detectors and no FastAPI",
        ("dispatch.breach -> gridwatch.breach_helper", "gridwatch.breach_helper -> detectors"),
    ),
    "edge imports the ingest": Breach(
        {"edge/breach.py": "from gateway.ingest import writer\n"},
        "edge imports no dispatch and no server package",
        ("edge.breach -> gateway.ingest.writer",),
    ),
    "the contract imports numpy": Breach(
        {"gateway/contract.py": "import numpy\n"},
        "the MQTT contract (gateway.contract) imports only pydantic",
        ("gateway.contract -> numpy",),
    ),
}


@pytest.mark.parametrize("breach", BREACHES.values(), ids=BREACHES.keys())
def test_a_forbidden_import_breaks_its_contract(
    breach: Breach, tree_copy: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    shutil.copytree(tree_copy, root)
    for rel, text in breach.files.items():
        path = root / rel
        # Appended, so an existing module keeps its own imports and the breach is one more.
        with path.open("a", encoding="utf-8") as f:
            f.write(text)
    result = lint_imports(root)
    assert result.returncode == 1, result.output
    assert f"{breach.contract} BROKEN" in result.output, result.output
    for link in breach.chain:
        assert link in result.output, result.output
