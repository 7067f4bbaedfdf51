"""`gridwatch report`: the command writes the JSON and the page, as a person would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dispatch.clock import ManualClock
from dispatch.store import Context
from tests.dispatch.cadence_support import accepted_cases
from tests.dispatch.conftest import TownFixture

pytestmark = pytest.mark.services


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridwatch.cli", "report", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_report_command_writes_json_and_a_printable_page(
    db: str,
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    units = accepted_cases(conn, ctx, zhongmen, clock, ("other", "other"))
    village = zhongmen.town.hierarchy.chain(units[0])[2].id
    common = ["--date", "2025-09-17", "--config-dir", str(zhongmen.config_dir)]
    common += ["--database-url", db, "--out", str(tmp_path)]

    done = _report("weekly", *common)
    assert done.returncode == 0, done.stdout + done.stderr
    written = json.loads(done.stdout.strip().splitlines()[-1])
    report = json.loads(Path(written["json"]).read_text(encoding="utf-8"))
    assert Path(written["json"]).name == "weekly-2025-09-15.json"
    row = conn.execute("SELECT count(*) FROM cases").fetchone()
    assert row is not None and report["counts"]["all"]["opened"] == row[0] == 2
    page = Path(written["html"]).read_text(encoding="utf-8")
    assert "周报 2025-09-15 – 2025-09-21" in page and "<svg" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN

    scoped = _report("weekly", *common, "--scope", village, "--lang", "en")
    assert scoped.returncode == 0, scoped.stdout + scoped.stderr
    written = json.loads(scoped.stdout.strip().splitlines()[-1])
    assert Path(written["json"]).name == f"weekly-2025-09-15-{village}.json"
    report = json.loads(Path(written["json"]).read_text(encoding="utf-8"))
    assert report["counts"]["all"]["opened"] == 1
    assert "Weekly report 2025-09-15" in Path(written["html"]).read_text(encoding="utf-8")

    wrong = _report("daily", *common, "--scope", "V99-NOWHERE")
    assert wrong.returncode == 2 and "--scope: 'V99-NOWHERE'" in wrong.stdout
