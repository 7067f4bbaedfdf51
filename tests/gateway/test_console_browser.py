"""The duty console in headless Chromium against a running gateway with ingest.

Debian's ``chromium`` (``scripts/quickstart.sh`` installs it with CJK fonts), driven
by Playwright with its executable path; no browser is ever downloaded. Each test saves
a screenshot of the view it drives (see ``shot``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.settings import Settings
from gridwatch.town import Town
from tests.gateway.auth_support import DUTY, PASSWORD, bearer, token_for
from tests.gateway.conftest import Publisher, event_body, wait_for
from tests.gateway.seed_support import UnitRows, two_grids

CHROMIUM = Path("/usr/bin/chromium")
GRID_LEADER_A = "P00003"  # leads V01-G01
CJK = re.compile(r"[\u4e00-\u9fff]")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium: apt-get install -y chromium fonts-noto-cjk",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is absent")


@pytest.fixture
def gateway(gw_settings: Settings, town: Town) -> Iterator[Gateway]:
    """The whole gateway (API and MQTT ingest) with the town of the config folder."""
    with Gateway(gw_settings, town=town) as gw:
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        yield gw


@pytest.fixture
def world(gw_settings: Settings) -> tuple[UnitRows, UnitRows]:
    """Grid V01-G01's unit and grid V02-G03's unit, each with two overdue assigned cases."""
    return two_grids(gw_settings.database_url, gw_settings.topic_prefix)


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def login(browser: Any, gateway: Gateway, person: str, role: Role) -> tuple[Any, list[Any]]:
    """A page logged in through the form as ``person``; the API bodies it received."""
    token_for(gateway.settings, person, role)  # adds the account with PASSWORD
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    bodies: list[Any] = []

    def received(res: Any) -> None:
        if "/api/v1/" in res.url and "/live" not in res.url and res.ok:
            bodies.append((res.url, res.json()))

    page.on("response", received)
    page.goto(gateway.url + "/")
    page.fill("#login-user", person)
    page.fill("#login-password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    page.wait_for_selector("#status.on", timeout=10000)
    return page, bodies


def shot(page: Any, name: str) -> None:
    """Save the view: ``CONSOLE_SCREENSHOTS=docs/img`` refreshes the README's; otherwise
    under the system's temporary folder, so a test run leaves the tree clean."""
    default = Path(tempfile.gettempdir()) / "gridwatch-console"
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"console-{name}.png"))


def test_accepting_an_overdue_case_moves_it_to_the_next_column(
    gateway: Gateway, world: tuple[UnitRows, UnitRows], browser: Any
) -> None:
    a, _ = world
    page, _ = login(browser, gateway, DUTY, Role.DUTY_COMMANDER)
    page.click("#tabs [data-view=board]")
    card = page.locator(f"#board .column[data-status=assigned] .card[data-case-id='{a.case_id}']")
    card.wait_for()
    assert "overdue" in (card.get_attribute("class") or "")
    countdown = card.locator(".countdown").inner_text()
    assert countdown.startswith("-"), countdown
    shot(page, "board")
    card.click()
    page.wait_for_selector("#case-view:not([hidden]) [data-action=accept]")
    page.fill("#action-note", "值班受理")
    shot(page, "case")
    page.click("[data-action=accept]")
    page.wait_for_selector("#action-result:has-text('受理')")
    page.click("#case-back")
    page.wait_for_selector(f".column[data-status=accepted] .card[data-case-id='{a.case_id}']")
    assert page.locator(f".column[data-status=assigned] [data-case-id='{a.case_id}']").count() == 0
    headers = bearer(token_for(gateway.settings, DUTY, Role.DUTY_COMMANDER))
    got = httpx.get(f"{gateway.url}/api/v1/cases/{a.case_id}", headers=headers, timeout=10).json()
    assert got["status"] == "accepted"
    assert got["history"][-1]["note"] == "值班受理"


def _held(body: Any) -> set[str]:
    """Every string value anywhere in a JSON body."""
    text = json.dumps(body, ensure_ascii=False)
    return set(re.findall(r'"([^"]*)"', text))


def test_a_grid_leader_receives_only_their_grid_and_the_map_frames_it(
    gateway: Gateway, world: tuple[UnitRows, UnitRows], browser: Any
) -> None:
    a, b = world
    page, bodies = login(browser, gateway, GRID_LEADER_A, Role.GRID_LEADER)
    page.wait_for_selector(f"#board .card[data-case-id='{a.case_id}']", state="attached")
    assert page.get_attribute("#map", "data-focus") == "V01-G01"
    assert page.locator("#areas .own[data-id='V01-G01']").count() == 1
    shot(page, "map")
    # The page can fail this: grid A's rows are among what it received.
    urls = {u.split("?")[0].split("/api/v1/")[1] for u, _ in bodies}
    wanted = {"cases", "events", "devices", "hierarchy", "joint", "stats/cases"}
    assert wanted | {"reviews/fortnight"} <= urls
    received = set().union(*(_held(body) for _, body in bodies))
    assert {a.event_id, "cam-0001", "V01-G01-U02"} <= received
    assert not {b.event_id, b.device, b.unit, "V02-G03"} & received
    ids = {c["id"] for u, body in bodies if u.split("?")[0].endswith("/api/v1/cases") for c in body}
    assert ids == {a.case_id, a.report_id}
    # A unit leader's case is not the grid leader's to accept; a comment is.
    page.click("#tabs [data-view=board]")
    page.click(f".card[data-case-id='{a.case_id}']")
    page.wait_for_selector("#case-view:not([hidden]) [data-action=comment]")
    assert page.locator("[data-action=accept]").count() == 0


def test_switching_to_english_changes_every_visible_label(
    gateway: Gateway, world: tuple[UnitRows, UnitRows], browser: Any
) -> None:
    a, _ = world
    page, _ = login(browser, gateway, DUTY, Role.DUTY_COMMANDER)
    views = ["map", "feed", "board", "devices", "duty", "reports"]

    def labels() -> list[str]:
        texts: list[str] = []
        for view in views:
            page.click(f"#tabs [data-view={view}]")
            # The switch names the other language: 中文 in English, English in Chinese.
            texts += page.locator("[data-i18n]:visible:not(#lang)").all_inner_texts()
            shown = page.locator(".column h3:visible, #feed .meta:visible, th:visible")
            texts += shown.all_inner_texts()
        # A case page: its facts' names, headings, table heads and action buttons.
        page.click("#tabs [data-view=board]")
        page.click(f".card[data-case-id='{a.case_id}']")
        page.wait_for_selector("#case-view:not([hidden]) [data-action=accept]")
        case = "#case-view [data-i18n]:visible, #case-body :is(dt, h3, th, button):visible"
        texts += page.locator(case).all_inner_texts()
        return texts

    chinese = labels()
    assert sum(bool(CJK.search(t)) for t in chinese) > 30
    page.click("#lang")
    english = labels()
    assert len(english) == len(chinese)
    still = [t for t in english if CJK.search(re.sub(r"设备 \S+|单元 \S+", "", t))]
    # Area names are the town's data, not labels: the feed's unit names may stay Chinese.
    still = [t for t in still if not re.match(r"^\d{4}|^\d{2}/", t)]
    assert not still, still
    page.click("#tabs [data-view=reports]")
    shot(page, "reports-en")


def test_an_event_published_at_the_edge_appears_in_the_feed_and_on_the_map(
    gateway: Gateway, world: tuple[UnitRows, UnitRows], browser: Any, publisher: Publisher
) -> None:
    page, _ = login(browser, gateway, DUTY, Role.DUTY_COMMANDER)
    page.click("#tabs [data-view=feed]")
    bodies = [event_body("cam-0001", seq, category="fire_smoke", rule="smoke") for seq in (1, 2, 3)]
    for body in bodies:
        publisher.send("cam-0001", "event", json.dumps(body).encode())
    line = page.locator(f"#feed li[data-event-id='{bodies[-1]['event_id']}']")
    line.wait_for(timeout=15000)
    text = line.inner_text()
    assert "烟火" in text and "×3" in text, text  # one line for the three repeats
    page.uncheck("#f-collapse")
    page.wait_for_selector(f"#feed li[data-event-id='{bodies[0]['event_id']}']")
    page.select_option("#f-category", "intrusion")
    assert page.locator(f"#feed li[data-event-id='{bodies[0]['event_id']}']").count() == 0
    page.select_option("#f-category", "")
    page.check("#f-collapse")
    shot(page, "feed")
    page.click("#tabs [data-view=map]")
    dot = page.locator(f"#markers .ev-dot[data-event-id='{bodies[-1]['event_id']}']")
    assert dot.count() == 1
    # Disconnected, the page misses an event; reconnecting, it resumes from the last id.
    page.evaluate("GW.live.close()")
    missed = event_body("cam-0001", 4, category="intrusion")
    publisher.send("cam-0001", "event", json.dumps(missed).encode())
    headers = bearer(token_for(gateway.settings, DUTY, Role.DUTY_COMMANDER))
    url = f"{gateway.url}/api/v1/events/{missed['event_id']}"
    wait_for(lambda: httpx.get(url, headers=headers, timeout=10).status_code == 200, what="stored")
    page.evaluate("GW.connect()")
    page.locator(f"#markers .ev-dot[data-event-id='{missed['event_id']}']").wait_for(
        state="attached", timeout=10000
    )


def test_the_duty_panel_shows_who_is_on_duty_and_the_joint_cases(
    gateway: Gateway, world: tuple[UnitRows, UnitRows], browser: Any
) -> None:
    a, _ = world
    headers = bearer(token_for(gateway.settings, DUTY, Role.DUTY_COMMANDER))
    base = f"{gateway.url}/api/v1"
    joint = {"action": "make_joint", "departments": ["police", "urban"], "note": "联合处置"}
    res = httpx.post(f"{base}/cases/{a.case_id}/actions", json=joint, headers=headers, timeout=10)
    assert res.status_code == 200, res.text
    said = {"kind": "decision", "body": "今晚封路清运"}
    url = f"{base}/cases/{a.case_id}/consultation"
    assert httpx.post(url, json=said, headers=headers, timeout=10).status_code == 201
    on_duty = httpx.get(f"{base}/duty", headers=headers, timeout=10).json()
    assert on_duty
    page, _ = login(browser, gateway, DUTY, Role.DUTY_COMMANDER)
    page.click("#tabs [data-view=duty]")
    for d in on_duty:
        row = page.locator(f"#duty-roster tr[data-roster='{d['roster']}']")
        row.wait_for()
        assert d["name"] in row.inner_text() and d["roster_name"] in row.inner_text()
    item = page.locator(f"#joint-cases li[data-case-id='{a.case_id}']")
    item.wait_for()
    text = item.inner_text()
    assert "police" in text and "urban" in text and "今晚封路清运" in text, text
    assert page.inner_text("#joint-count") == "1"
    shot(page, "duty")
    item.click()
    page.wait_for_selector(f"#case-view:not([hidden]) #case-id:text-is('#{a.case_id}')")


def test_the_reports_panel_charts_cases_per_day_unit_and_on_time_rate(
    gateway: Gateway, world: tuple[UnitRows, UnitRows], browser: Any
) -> None:
    a, b = world
    with psycopg.connect(gateway.settings.database_url) as conn:
        conn.execute(
            "UPDATE cases SET status = 'resolved', accepted_at = accept_by - interval '1 minute',"
            " resolved_at = resolve_by - interval '1 minute' WHERE id = %s",
            (a.case_id,),
        )
    page, _ = login(browser, gateway, DUTY, Role.DUTY_COMMANDER)
    page.click("#tabs [data-view=reports]")
    page.wait_for_selector("#r-per-day rect[data-category='intrusion']")
    counts = page.eval_on_selector_all(
        "#r-per-day rect[data-category]", "rs => rs.map(r => Number(r.dataset.n))"
    )
    assert sum(counts) == 4 and page.inner_text("#r-total") == "4"
    units = page.eval_on_selector_all(
        "#r-per-unit rect.bar", "rs => rs.map(r => [r.dataset.key, r.getBBox().width])"
    )
    assert {k for k, _ in units} == {a.unit, b.unit} and all(w > 0 for _, w in units)
    rates = dict(
        page.eval_on_selector_all(
            "#r-on-time rect.bar", "rs => rs.map(r => [r.dataset.key, r.getBBox().width])"
        )
    )
    # One of four accepted, and on time: a full bar; the one resolved was on time too.
    assert rates["intrusion:accept"] > 0 and rates["intrusion:resolve"] > 0
    assert "100%" in page.text_content("#r-on-time")
    assert "闯入" in page.inner_text("#r-legend")
    # The fortnight's lowest ranked, as the review API gives them to this person.
    page.wait_for_selector("#r-ranking th")
    review = page.evaluate("GW.json('/api/v1/reviews/fortnight')")
    shown = page.eval_on_selector_all(
        "#r-ranking tr[data-person]", "rs => rs.map(r => [r.dataset.person, r.cells[0].innerText])"
    )
    assert shown == [[r["person"], str(r["position"])] for r in review["ranking"]["bottom"]]
    assert shown, "the world's unit leaders have cases: someone is ranked"
    assert review["period"]["first_day"] in page.inner_text("#r-rank-note")
    shot(page, "reports")


def _jpeg(width: int, height: int) -> bytes:
    import cv2
    import numpy as np

    picture = np.zeros((height, width, 3), np.uint8)
    picture[:, : width // 2] = (40, 80, 200)  # half red, half dark: a visible thumbnail
    ok, buf = cv2.imencode(".jpg", picture)
    assert ok
    return buf.tobytes()


def test_a_feed_line_shows_its_events_snapshot_as_a_thumbnail(
    gateway: Gateway, world: tuple[UnitRows, UnitRows], browser: Any, publisher: Publisher
) -> None:
    page, _ = login(browser, gateway, DUTY, Role.DUTY_COMMANDER)
    page.click("#tabs [data-view=feed]")
    jpeg = _jpeg(96, 72)
    sha = hashlib.sha256(jpeg).hexdigest()
    body = event_body(
        "cam-0001", 11, category="fire_smoke", rule="smoke",
        snapshot={"sha256": sha, "ref": f"cam-0001/{sha}.jpg"},
    )  # fmt: skip
    snapshot = {
        "v": "1.0", "kind": "snapshot", "device_id": "cam-0001", "ts": body["ts"],
        "sha256": sha, "event_id": body["event_id"], "role": "frame",
        "category": "fire_smoke", "data": base64.b64encode(jpeg).decode(),
    }  # fmt: skip
    publisher.send("cam-0001", "snapshot", json.dumps(snapshot).encode())
    publisher.send("cam-0001", "event", json.dumps(body).encode())
    thumb = page.locator(f"#feed li[data-event-id='{body['event_id']}'] img.thumb:visible")
    thumb.wait_for(timeout=20000)
    assert (thumb.get_attribute("src") or "").startswith("blob:")
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=thumb.element_handle())
    assert thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [96, 72]
    shot(page, "feed-snapshot")


def test_the_map_drills_down_to_a_unit_and_shows_an_offline_camera(
    gateway: Gateway, world: tuple[UnitRows, UnitRows], browser: Any, town: Town
) -> None:
    a, _ = world
    with psycopg.connect(gateway.settings.database_url) as conn:
        conn.execute(
            "INSERT INTO device_status (device_id, state, seq, ts, payload)"
            " VALUES ('cam-0002', 'offline', 1, now() - interval '1 hour', '{}')"
        )
    page, _ = login(browser, gateway, DUTY, Role.DUTY_COMMANDER)
    assert page.get_attribute("#map", "data-focus") == "T01"
    page.wait_for_selector("#markers .cam-off[data-device='cam-0002']", state="attached")
    red = f"#markers .case-dot.urg-red[data-case-id='{a.case_id}']"
    page.wait_for_selector(red, state="attached")
    shot(page, "map-town")
    unit = f"#areas .unit[data-id='{a.unit}']"
    for focus in ("V01", "V01-G01"):  # town -> village -> grid
        page.locator(unit).dispatch_event("click")
        assert page.get_attribute("#map", "data-focus") == focus
    page.locator(unit).dispatch_event("click")
    leader = town.hierarchy.areas[a.unit].leader
    assert leader is not None
    panel = page.locator("#unit-body")
    panel.get_by_text(leader.name, exact=False).first.wait_for()
    text = panel.inner_text()
    assert a.device in text and f"#{a.case_id}" in text, text
    assert page.get_attribute("#map", "data-focus") == "V01-G01"
    shot(page, "map-unit")
    # A camera with a homography shows the ground it sees, inside its unit's grid.
    demo = town.devices["cam-demo-1"]
    grid = town.hierarchy.location_of_unit(demo.unit).grid_id
    page.evaluate(f"GW.map.zoom({json.dumps(grid)})")
    view = page.locator("#views .fov[data-device='cam-demo-1']")
    view.wait_for(state="attached")
    box = view.bounding_box()
    assert box is not None and box["width"] > 2 and box["height"] > 2, box
    shot(page, "map-fov")
    page.click("#tabs [data-view=devices]")
    offline = page.locator("#devices tr.dev-offline[data-device='cam-0002']")
    assert "离线" in offline.inner_text()
    shot(page, "devices")
