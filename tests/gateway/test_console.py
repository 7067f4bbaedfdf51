"""The console's catalogue and the live channel's resume, without a browser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import httpx
import psycopg
import pytest

from dispatch.lifecycle import Action, Status
from gateway.api.models.devices import DeviceState
from gateway.api.routers.console import catalogue
from gateway.process import Gateway
from gridwatch.domain import CATEGORIES, Role
from gridwatch.settings import Settings
from gridwatch.town import Town
from tests.gateway.auth_support import DUTY, token_for
from tests.gateway.conftest import wait_for

STATIC = Path(__file__).resolve().parents[2] / "gateway" / "api" / "static"


def test_every_key_the_page_uses_is_in_the_catalogue_in_both_languages() -> None:
    text = catalogue()
    assert set(text["zh"]) == set(text["en"])
    used = set(re.findall(r'data-i18n="([\w.]+)"', (STATIC / "index.html").read_text()))
    for script in STATIC.glob("*.js"):
        used |= set(re.findall(r'GW\.t\("([\w.]*\w)"', script.read_text()))
    assert len(used) > 40
    assert not used - set(text["en"]), sorted(used - set(text["en"]))
    assert {f"cat.{c}" for c in CATEGORIES} <= set(text["zh"])
    # Keys the page builds from the API's values: every action it may offer or the
    # history may hold, every status, role and device state.
    built = {f"action.{a}" for a in [*Action, "reassign", "merge"]}
    built |= {f"status.{s}" for s in Status} | {f"role.{r}" for r in Role}
    built |= {f"dev.{s}" for s in get_args(DeviceState)}
    assert not built - set(text["en"]), sorted(built - set(text["en"]))
    assert (text["zh"]["cat.fire_smoke"], text["en"]["cat.fire_smoke"]) == ("烟火", "fire or smoke")


@pytest.fixture
def english(gw_settings: Settings, town: Town) -> Iterator[Gateway]:
    with Gateway(gw_settings.model_copy(update={"lang": "en"}), town=town, ingest=False) as gw:
        yield gw


def test_gridwatch_lang_sets_the_consoles_default_language(english: Gateway) -> None:
    body = httpx.get(f"{english.url}/console/messages.json", timeout=10).json()
    assert (body["lang"], body["tz"]) == ("en", "Asia/Shanghai")
    assert body["messages"]["zh"]["tab.board"] == "案件看板"


def _frames(res: httpx.Response, n: int) -> list[tuple[str, str, str]]:
    """The next ``n`` (id, event, data) frames of a stream; comments skipped."""
    out: list[tuple[str, str, str]] = []
    frame: dict[str, str] = {}
    for line in res.iter_lines():
        if not line:
            if "event" in frame:
                out.append((frame.get("id", ""), frame["event"], frame.get("data", "")))
                if len(out) == n:
                    return out
            frame = {}
        elif not line.startswith((":", "retry:")):
            key, _, value = line.partition(": ")
            frame[key] = value
    return out


def _notify(dsn: str, n: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(n):
            body = json.dumps({"type": "event", "event_id": f"e{i}", "unit_id": "V01-G01-U02"})
            conn.execute("SELECT pg_notify('gridwatch_live', %s)", (body,))


def test_a_new_event_source_resumes_after_the_last_id_it_saw(
    api: Gateway, gw_settings: Settings
) -> None:
    token = token_for(gw_settings, DUTY, Role.DUTY_COMMANDER)
    url = f"{api.url}/api/v1/live"
    with httpx.Client(timeout=10) as client:
        wait_for(lambda: client.get(f"{api.url}/health").json()["live"], what="LISTEN")
        with client.stream("GET", url, params={"access_token": token}) as res:
            _notify(gw_settings.database_url, 3)
            first = _frames(res, 3)
        assert [json.loads(d)["event_id"] for _, _, d in first] == ["e0", "e1", "e2"]
        params = {"access_token": token, "last_event_id": first[0][0]}
        with client.stream("GET", url, params=params) as res:
            missed = _frames(res, 2)
        assert [f[0] for f in missed] == [first[1][0], first[2][0]]
        params["last_event_id"] = "before-a-restart-1"
        with client.stream("GET", url, params=params) as res:
            assert _frames(res, 1)[0][1] == "gap"


def test_event_notifications_carry_the_severity_the_feed_filters_on(
    api: Gateway, gw_settings: Settings
) -> None:
    token = token_for(gw_settings, DUTY, Role.DUTY_COMMANDER)
    with httpx.Client(timeout=10) as client:
        wait_for(lambda: client.get(f"{api.url}/health").json()["live"], what="LISTEN")
        stream = client.stream("GET", f"{api.url}/api/v1/live", params={"access_token": token})
        with stream as res, psycopg.connect(gw_settings.database_url) as conn:
            # One statement of three rows: the statement trigger's path.
            conn.execute(
                "INSERT INTO events (event_id, ts, device_id, seq, rule, category, severity,"
                " unit_id, score, extra) SELECT gen_random_uuid(), now(), 'cam-0001', n,"
                " 'smoke', 'fire_smoke', n, 'V01-G01-U02', 0.8, '{}'"
                " FROM generate_series(1, 3) n"
            )
            conn.commit()
            frames = _frames(res, 3)
    got = sorted((json.loads(d)["severity"], json.loads(d)["category"]) for _, _, d in frames)
    assert got == [(1, "fire_smoke"), (2, "fire_smoke"), (3, "fire_smoke")]
