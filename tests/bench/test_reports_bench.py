"""The reports benchmark on a small load: its history follows the cases, its counts agree."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import reports  # noqa: E402

pytestmark = pytest.mark.services


def test_the_monthly_report_agrees_with_the_full_scan_baseline(pg_admin_url: str) -> None:
    result = reports.run(argparse.Namespace(cases=5000, days=120.0))
    assert result["cases"] == 5000
    assert result["history_rows"] > 2 * result["cases"]  # created and assigned at least
    assert result["counts"]["opened"] > 0
    assert result["counts_match"] is True
    assert result["counts"] == {k: result["baseline"][k] for k in ("opened", "closed")}
    assert result["meets_targets"] is False  # 5,000 cases are not the target's million
