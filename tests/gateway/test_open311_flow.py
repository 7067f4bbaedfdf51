"""Open311 against a running gateway: the spec's own examples replayed by a real client.

``georeport`` (PyPI) reads services and requests in JSON and XML; it cannot create,
so the create is the spec's example request sent form-encoded with ``api_key``.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from georeport import GeoReport

from gateway.api.app import create_app
from gateway.auth.store import create_key
from gridwatch.domain import Role
from gridwatch.settings import Settings
from gridwatch.town import Town

CONFIG = Path(__file__).parent.parent.parent / "config"
KEY = ""  # the platform key of the test's database, set by the ``platform_key`` fixture
KEY_ROW_ID = 0


class Server:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.url = f"http://{settings.http_host}:{settings.http_port}"
        self.base = self.url + "/open311/v2"
        config = uvicorn.Config(
            app, host=settings.http_host, port=settings.http_port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve(settings: Settings, town: Town) -> Server:
    return Server(create_app(settings, town), settings)


@pytest.fixture(autouse=True)
def platform_key(migrated_db: str) -> Iterator[str]:
    """A platform API key (``gridwatch keys create --role platform``) in this test's database."""
    global KEY, KEY_ROW_ID
    with psycopg.connect(migrated_db) as conn:
        row, KEY = create_key(conn, "city platform", Role.PLATFORM, "test")
    KEY_ROW_ID = row.id
    yield KEY
    KEY = ""


@pytest.fixture
def o311(gw_settings: Settings, town: Town) -> Iterator[Server]:
    # georeport sends no key: the deployment opens submission and reading to the public.
    settings = gw_settings.model_copy(
        update={"config_dir": CONFIG, "open311_public": True, "open311_public_read": True}
    )
    with serve(settings, town) as server:
        yield server


def _point(town: Town) -> tuple[float, float, str]:
    unit = next(u for u in town.hierarchy.unit_ids if town.hierarchy.areas[u].leader)
    p = town.hierarchy.geometries[unit].representative_point()
    return float(p.y), float(p.x), unit


def spec_create(town: Town, **extra: str) -> dict[str, str]:
    """The spec's example POST, with our service code and a point in our town."""
    lat, lon, _ = _point(town)
    return {
        "api_key": KEY,
        "jurisdiction_id": "city.gov",
        "service_code": "sanitation",
        "lat": str(lat),
        "long": str(lon),
        "address_string": "1234 5th street",
        "email": "smit333@sfgov.edu",
        "device_id": "tt222111",
        "account_id": "123456",
        "first_name": "john",
        "last_name": "smith",
        "phone": "111111111",
        "description": "A large sinkhole is destroying the street",
        "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg",
        "attribute[WHISPAWN]": "123456",
        "attribute[WHISDORN]": "COISL001",
        **extra,
    }


def test_a_georeport_client_replays_the_spec_flow_in_json_and_xml(
    o311: Server, town: Town, migrated_db: str
) -> None:
    json_client = GeoReport(o311.base, jurisdiction="city.gov", output_format="json")
    xml_client = GeoReport(o311.base, jurisdiction="city.gov", output_format="xml")

    services = json_client.get_service_list()
    codes = [s["service_code"] for s in services]
    assert codes[:2] == ["micro_wish", "micro_voice"]
    owned = {c for d in town.departments.values() for c in d.categories}
    assert set(codes[2:]) == owned and "dispute" in owned and "sanitation" in owned
    xml_services = xml_client.get_service_list()
    assert [s["service_code"] for s in xml_services] == codes
    assert xml_services[0]["metadata"] == "true"
    definition = xml_client.get_service_definition("micro_wish")
    assert definition["attributes"]["attribute"]["code"] == "WISH_KIND"
    assert json_client.get_service_definition("dispute")["attributes"][0]["code"] == "PARTIES"

    # POST, form-encoded with api_key, as the spec's example.
    r = httpx.post(f"{o311.base}/requests.json", data=spec_create(town))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    (created,) = r.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    sr_id = created["service_request_id"]
    assert created["account_id"] == "123456" and created["service_notice"]

    # ... and the same create answered in XML.
    rx = httpx.post(f"{o311.base}/requests.xml", data=spec_create(town))
    assert rx.status_code == 200 and rx.headers["content-type"] == "text/xml; charset=utf-8"
    assert rx.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(rx.content)
    assert root.tag == "service_requests" and root[0].tag == "request"
    assert root[0].findtext("service_request_id") == sr_id  # joined the same case

    lat, lon, unit = _point(town)
    for client in (json_client, xml_client):
        got = client.get_service_request(sr_id)
        assert got["service_request_id"] == sr_id
        assert got["status"] == "open"
        assert got["service_code"] == "sanitation"
        assert got["unit_id"] == unit and got["address_id"] == unit
        assert float(got["lat"]) == pytest.approx(lat) and float(got["long"]) == pytest.approx(lon)
        assert got["address"] == "1234 5th street"
        assert got["grid_id"] and got["village_id"]
        assert str(got["escalation_level"]) == "0"
        assert got["expected_datetime"].endswith("+08:00")
        assert got["requested_datetime"].endswith("+08:00")
        assert got["media_url"].startswith("http://farm3.static.flickr.com/")
        assert "smit333" not in str(got) and "111111111" not in str(got)
        listed = client.get_service_requests(service_request_id=sr_id)
        item = listed if isinstance(listed, dict) else listed[0]
        assert item["service_request_id"] == sr_id

    # A batch service answers a token, resolved through tokens/{token}.
    wish = spec_create(town, service_code="micro_wish", **{"attribute[WISH_KIND]": "care"})
    r = httpx.post(f"{o311.base}/requests.json", data=wish)
    assert r.status_code == 200, r.text
    (answer,) = r.json()
    assert "service_request_id" not in answer and answer["token"]
    token = answer["token"]
    t = httpx.get(f"{o311.base}/tokens/{token}.json")
    assert t.status_code == 200, t.text
    (resolved,) = t.json()
    assert resolved["token"] == token and resolved["service_request_id"]
    tx = ET.fromstring(httpx.get(f"{o311.base}/tokens/{token}.xml").content)
    assert tx.findtext("request/token") == token
    assert tx.findtext("request/service_request_id") == resolved["service_request_id"]
    wished = xml_client.get_service_request(resolved["service_request_id"])
    assert wished["service_code"] == "micro_wish" and wished["service_name"] == "微心愿"

    with psycopg.connect(migrated_db) as conn:
        row = conn.execute(
            "SELECT source, category, raised_by FROM cases WHERE id = %s", (int(sr_id),)
        ).fetchone()
    assert row == ("report", "sanitation", "123456")
    with psycopg.connect(migrated_db) as conn:
        audited = conn.execute(
            "SELECT subject, target FROM audit_log WHERE action = 'open311.create' ORDER BY id"
        ).fetchall()
    # Three creates (two joined one case), each recorded with the platform key as subject.
    assert [t for _, t in audited] == [sr_id, sr_id, resolved["service_request_id"]]
    assert {subject for subject, _ in audited} == {f"key:{KEY_ROW_ID}"}


def test_names_in_english_and_extended_states(o311: Server, town: Town) -> None:
    en = httpx.get(f"{o311.base}/services.json", params={"lang": "en"}).json()
    assert en[0]["service_name"] == "micro-wish"
    by_header = httpx.get(f"{o311.base}/services.json", headers={"Accept-Language": "en-US"})
    assert by_header.json()[0]["service_name"] == "micro-wish"
    r = httpx.post(f"{o311.base}/requests.json", data=spec_create(town, service_code="dispute"))
    sr_id = r.json()[0]["service_request_id"]
    ext = httpx.get(f"{o311.base}/requests/{sr_id}.json", params={"extended_attributes": "true"})
    (doc,) = ext.json()
    assert doc["status"] == "open"  # FixMyStreet's "open": assigned, not yet accepted
    assert doc["extended_attributes"]["case_status"] == "assigned"


@pytest.mark.parametrize(
    ("method", "path", "data", "status", "names"),
    [
        ("post", "requests.json", {"service_code": "sanitation"}, 400, "location"),
        ("post", "requests.xml", {"service_code": "nope", "address_id": "x"}, 404, "'nope'"),
        (
            "post",
            "requests.json",
            {"service_code": "flood", "address_id": "nowhere"},
            400,
            "address_id='nowhere'",
        ),
        (
            "post",
            "requests.json",
            {"service_code": "flood", "lat": "0", "long": "0"},
            400,
            "in no unit",
        ),
        ("get", "requests.json", {"status": "pending"}, 400, "status='pending'"),
        ("get", "requests.xml", {"start_date": "yesterday"}, 400, "start_date='yesterday'"),
        ("get", "requests.json", {"service_code": "a\x00b"}, 400, "service_code"),
        ("get", "requests/abc.json", {}, 400, "service_request_id='abc'"),
        ("get", "requests/999999.json", {}, 404, "999999"),
        ("get", "tokens/nosuchtoken.xml", {}, 404, "nosuchtoken"),
        ("get", "services/nope.json", {}, 404, "nope"),
        ("get", "services.yaml", {}, 400, "fmt='yaml'"),
    ],
)
def test_bad_input_is_an_open311_error_naming_field_and_value(
    o311: Server, method: str, path: str, data: dict[str, str], status: int, names: str
) -> None:
    url = f"{o311.base}/{path}"
    if method == "post":
        r = httpx.post(url, data={"api_key": KEY, **data})
    else:
        r = httpx.get(url, params=data)
    assert r.status_code == status, r.text
    if path.endswith(".xml") or path.endswith(".yaml"):
        root = ET.fromstring(r.content)
        assert root.tag == "errors" and root[0].tag == "error"
        assert root[0].findtext("code") == str(status)
        assert names in (root[0].findtext("description") or "")
    else:
        (err, *_) = r.json()
        assert err["code"] == status and names in err["description"]


def test_create_needs_a_key_unless_public_submission_is_on(
    gw_settings: Settings, town: Town
) -> None:
    body = spec_create(town)
    del body["api_key"]
    closed = gw_settings.model_copy(update={"config_dir": CONFIG})
    with serve(closed, town) as server:
        r = httpx.post(f"{server.base}/requests.json", data=body)
        assert r.status_code == 401 and "api_key" in r.json()[0]["description"]
        assert r.headers["WWW-Authenticate"] == "Bearer"
        bad = httpx.post(
            f"{server.base}/requests.json", data={**body, "api_key": "gwk_" + "x" * 40}
        )
        assert bad.status_code == 401
        for path in ("requests.json", "services.xml", "tokens/abc.json", "services/flood.json"):
            assert httpx.get(f"{server.base}/{path}").status_code == 401, path
        ok = httpx.post(f"{server.base}/requests.json", data={**body, "api_key": KEY})
        assert ok.status_code == 200, ok.text
        for auth in ({"api_key": KEY}, None):
            headers = {"X-API-Key": KEY} if auth is None else {}
            listed = httpx.get(f"{server.base}/requests.json", params=auth, headers=headers)
            assert listed.status_code == 200
            assert [d["service_request_id"] for d in listed.json()] == [
                ok.json()[0]["service_request_id"]
            ]
        with psycopg.connect(gw_settings.database_url) as conn:
            conn.execute("UPDATE api_keys SET revoked_at = now(), revoked_by = 'test'")
        revoked = httpx.get(f"{server.base}/requests.json", params={"api_key": KEY})
        assert revoked.status_code == 401


def test_public_submission_is_rate_limited_per_address(gw_settings: Settings, town: Town) -> None:
    body = spec_create(town)
    del body["api_key"]
    public = gw_settings.model_copy(
        update={"config_dir": CONFIG, "open311_public": True, "open311_public_per_hour": 2}
    )
    with serve(public, town) as server:
        codes = [
            httpx.post(f"{server.base}/requests.json", data=body).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]


def test_multipart_create_and_idempotency_key(o311: Server, town: Town, migrated_db: str) -> None:
    fields = spec_create(town, service_code="flood")
    files = {k: (None, v) for k, v in fields.items()}  # multipart/form-data, no file parts
    headers = {"Idempotency-Key": "replay-1"}
    first = httpx.post(f"{o311.base}/requests.json", files=files, headers=headers)
    again = httpx.post(f"{o311.base}/requests.json", files=files, headers=headers)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    with psycopg.connect(migrated_db) as conn:
        n = conn.execute(
            "SELECT count(*) FROM open311_requests WHERE idempotency_key = 'replay-1'"
        ).fetchone()
    assert n == (1,)


def test_discovery(o311: Server) -> None:
    doc = httpx.get(f"{o311.url}/open311/discovery.json").json()
    (endpoint,) = doc["endpoints"]
    assert endpoint["url"].endswith("/open311/v2/")
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    xml = ET.fromstring(httpx.get(f"{o311.url}/open311/discovery.xml").content)
    assert xml.findtext("endpoints/endpoint/formats/format") == "text/xml"


def _machine_case(dsn: str, unit: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "INSERT INTO cases (source, category, severity, status, summary, unit_id,"
            " opened_at, first_event_at, last_event_at, updated_at)"
            " VALUES ('event', 'intrusion', 2, 'closed', 'camera saw someone', %s,"
            " now(), now(), now(), now()) RETURNING id",
            (unit,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_requests_list_filters_and_what_the_public_sees(
    o311: Server, town: Town, migrated_db: str
) -> None:
    r = httpx.post(f"{o311.base}/requests.json", data=spec_create(town))
    street = r.json()[0]["service_request_id"]
    wish = spec_create(town, service_code="micro_wish", **{"attribute[WISH_KIND]": "goods"})
    token = httpx.post(f"{o311.base}/requests.json", data=wish).json()[0]["token"]
    wished = httpx.get(f"{o311.base}/tokens/{token}.json").json()[0]["service_request_id"]
    machine = str(_machine_case(migrated_db, _point(town)[2]))

    def ids(**params: str) -> list[str]:
        r = httpx.get(f"{o311.base}/requests.json", params=params)
        assert r.status_code == 200, r.text
        return [d["service_request_id"] for d in r.json()]

    keyed = {"api_key": KEY}
    assert set(ids(**keyed)) == {street, wished, machine}
    assert ids(**keyed, service_code="micro_wish") == [wished]
    assert ids(**keyed, service_code="sanitation") == [street]
    assert ids(**keyed, status="closed") == [machine]
    assert set(ids(**keyed, status="open")) == {street, wished}
    assert ids(**keyed, start_date="2099-01-01T00:00:00Z") == []
    assert ids(**keyed, end_date="2000-01-01T00:00:00+08:00") == []
    assert set(ids(**keyed, service_request_id=f"{machine},{street}")) == {machine, street}
    # Without a key (public reading is on here) only residents' requests show, and a
    # machine case is as absent as one that does not exist.
    assert set(ids()) == {street, wished}
    assert httpx.get(f"{o311.base}/requests/{machine}.json").status_code == 404
    keyed_get = httpx.get(f"{o311.base}/requests/{machine}.xml", params=keyed)
    assert keyed_get.status_code == 200
    assert ET.fromstring(keyed_get.content).findtext("request/status") == "closed"
