"""The printed report in headless Chromium: its Chinese text is legible, not empty boxes.

A glyph that no installed font has is drawn as the same empty box (.notdef) whatever
the character. So the page is screenshot twice: as it is, and with every CJK
character swapped for a code point no font has (certain boxes). If the CJK text
drew as boxes, the two would be the same picture. A control run under a fontconfig
that knows only DejaVu (no CJK) shows the comparison catches exactly that: there,
the page and its boxed copy come out the same.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dispatch.cadence.render import render_html
from dispatch.cadence.review import build, town_names
from dispatch.clock import ManualClock
from dispatch.store import Context
from tests.dispatch.cadence_support import accepted_cases, local, setup_for
from tests.dispatch.conftest import TownFixture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium (scripts/quickstart.sh test installs it)"
    ),
]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
BOX = "\u0378"  # unassigned: no font has it
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def _shot(html: str, out: Path, fontconfig: Path | None = None) -> Any:
    import numpy as np

    cv2 = pytest.importorskip("cv2")
    page = out.with_suffix(".html")
    page.write_text(html, encoding="utf-8")
    png = out.with_suffix(".png")
    env = dict(os.environ)
    if fontconfig is not None:
        env["FONTCONFIG_FILE"] = str(fontconfig)
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={out.parent / ('profile-' + out.name)}",
            f"--screenshot={png}",
            "--window-size=900,700",
            page.as_uri(),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    assert image is not None, f"chromium wrote no screenshot {png}"
    return np.asarray(image)


def _dejavu_only(tmp: Path) -> Path:
    conf = tmp / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{DEJAVU}</dir><cachedir>{tmp / 'fc-cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    return conf


def test_the_printed_report_draws_its_chinese_text(
    tmp_path: Path,
    conn: psycopg.Connection[Any],
    ctx: Context,
    clock: ManualClock,
    zhongmen: TownFixture,
) -> None:
    accepted_cases(conn, ctx, zhongmen, clock, ("other", "loitering", "dispute"))
    clock.set(local(2025, 9, 16, 12))
    report = build(conn, setup_for(ctx), "daily", date(2025, 9, 16), clock.now())
    html = render_html(report, "zh", town_names(zhongmen.town))
    assert "日报 2025-09-16" in html
    boxed = CJK.sub(BOX, html)
    assert boxed != html

    page = _shot(html, tmp_path / "page")
    boxes = _shot(boxed, tmp_path / "boxes")
    assert page.shape == boxes.shape
    assert (page < 128).sum() > 1000, "the screenshot is blank"
    differing = (abs(page.astype(int) - boxes.astype(int)) > 64).sum()
    assert differing > 2000, f"the CJK text looks like empty boxes ({differing} pixels differ)"

    if DEJAVU.is_dir():
        conf = _dejavu_only(tmp_path)
        no_cjk = _shot(html, tmp_path / "nocjk", conf)
        no_cjk_boxes = _shot(boxed, tmp_path / "nocjk-boxes", conf)
        control = (abs(no_cjk.astype(int) - no_cjk_boxes.astype(int)) > 64).sum()
        assert control < differing / 10, (control, differing)
