"""Open311 without services: catalogue, state mapping, forms, filters, JSON and XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest

from dispatch.lifecycle import OPEN_STATUSES, Status
from gateway.open311.catalogue import MICRO_VOICE, MICRO_WISH, build_catalogue
from gateway.open311.errors import Open311Error
from gateway.open311.forms import parse_create
from gateway.open311.query import flag, parse_requests_query
from gateway.open311.render import clean_text, render, to_xml, w3c
from gateway.open311.states import STATUSES_OF, shown
from gridwatch.domain import Category

TZ = ZoneInfo("Asia/Shanghai")


class _Dept:
    def __init__(self, id: str) -> None:
        self.id = id


class _Town:
    """Departments as the sample town has them: every category but line_crossing owned."""

    def department_for(self, category: str) -> _Dept | None:
        return None if category == Category.LINE_CROSSING else _Dept(f"dept-{category}")


CAT = build_catalogue(_Town())

#: The spec's own example create, with our service code and a point in our town.
SPEC_CREATE = (
    "api_key=xyz&jurisdiction_id=city.gov&service_code=sanitation&lat=25.43&long=119.0"
    "&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111"
    "&account_id=123456&first_name=john&last_name=smith&phone=111111111"
    "&description=A+large+sinkhole+is+destroying+the+street"
    "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
    "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001"
)


def test_catalogue_has_residents_services_dispute_and_one_per_routed_category() -> None:
    codes = CAT.codes
    assert codes[:2] == (MICRO_WISH, MICRO_VOICE)
    assert "dispute" in codes and codes.count("dispute") == 1
    assert "line_crossing" not in codes  # no department owns it
    assert set(codes) - {MICRO_WISH, MICRO_VOICE} == {
        c.value for c in Category if c is not Category.LINE_CROSSING
    }
    wish = CAT.get(MICRO_WISH)
    assert wish is not None and wish.name("zh") == "微心愿" and wish.name("en") == "micro-wish"
    assert wish.type == "batch" and wish.metadata
    dispute = CAT.get("dispute")
    assert dispute is not None and dispute.name("zh") == "矛盾纠纷" and dispute.metadata


def test_every_case_state_is_mapped_and_open_matches_the_state_machine() -> None:
    for status in Status:
        assert shown(status).base in ("open", "closed")
    assert STATUSES_OF["open"] == OPEN_STATUSES | {Status.REJECTED}
    assert shown("accepted").fms == "action_scheduled"
    assert shown("resolved").fms == "fixed" and shown("resolved").base == "closed"
    assert shown("duplicate").fms == "duplicate"


def test_the_spec_example_create_parses() -> None:
    req = parse_create(parse_qsl(SPEC_CREATE), CAT)
    assert req.service.code == "sanitation"
    assert req.api_key == "xyz"
    assert (req.lat, req.lon) == (25.43, 119.0)
    assert req.email == "smit333@sfgov.edu" and req.phone == "111111111"
    assert req.media_url and req.media_url.startswith("http://farm3.static.flickr.com/")
    assert req.attributes == {"WHISPAWN": ("123456",), "WHISDORN": ("COISL001",)}


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ("lat=1&long=2", 400, "service_code"),
        ("service_code=nope&lat=1&long=2", 404, "service_code='nope'"),
        ("service_code=sanitation", 400, "location"),
        ("service_code=sanitation&lat=1", 400, "lat='1'"),
        ("service_code=sanitation&lat=91&long=2", 400, "lat='91'"),
        ("service_code=sanitation&lat=nan&long=2", 400, "lat='nan'"),
        ("service_code=sanitation&address_string=somewhere", 400, "address_string='somewhere'"),
        ("service_code=sanitation&lat=1&long=2&email=nobody", 400, "email='nobody'"),
        ("service_code=sanitation&lat=1&long=2&media_url=javascript:x", 400, "media_url="),
        ("service_code=sanitation&lat=1&long=2&description=" + "x" * 4001, 400, "description="),
        ("service_code=sanitation&lat=1&long=2&description=a%00b", 400, "NUL"),
        ("service_code=micro_wish&lat=1&long=2", 400, "attribute[WISH_KIND]"),
        ("service_code=micro_wish&lat=1&long=2&attribute[WISH_KIND]=pony", 400, "'pony'"),
    ],
)
def test_bad_creates_name_the_field_and_value(body: str, status: int, names: str) -> None:
    with pytest.raises(Open311Error) as err:
        parse_create(parse_qsl(body, keep_blank_values=True), CAT)
    assert err.value.status == status
    assert names in str(err.value)


def test_control_characters_are_dropped_and_line_breaks_kept() -> None:
    body = [("service_code", "flood"), ("address_id", "U1"), ("description", "a\x1b[31m\x07b\nc")]
    assert parse_create(body, CAT).description == "a[31mb\nc"


def test_empty_optional_fields_are_as_if_not_sent() -> None:
    req = parse_create(parse_qsl("service_code=flood&address_id=U1&email=&lat=&long=", True), CAT)
    assert req.email is None and req.lat is None and req.address_id == "U1"


def test_multivalue_attribute_and_description_of_4000_characters() -> None:
    body = [
        ("service_code", "dispute"),
        ("address_id", "U1"),
        ("description", "纠" * 4000),
        ("attribute[extra][]", "a"),
        ("attribute[extra][]", "b"),
    ]
    req = parse_create(body, CAT)
    assert req.attributes["extra"] == ("a", "b")
    assert req.description is not None and len(req.description) == 4000


NOW = datetime(2025, 9, 16, 1, 0, tzinfo=UTC)


def test_requests_query_defaults_to_the_last_90_days() -> None:
    q = parse_requests_query({}, CAT, NOW)
    assert q.end == NOW and q.start == NOW - timedelta(days=90) and q.limit == 1000
    assert q.ids is None and q.statuses is None


def test_requests_query_filters() -> None:
    q = parse_requests_query(
        {
            "service_request_id": "3, 1,3",
            "service_code": "flood,micro_wish",
            "status": "open,closed",
            "start_date": "2010-05-24T00:00:00Z",
            "end_date": "2010-06-24T00:00:00-08:00",
        },
        CAT,
        NOW,
    )
    assert q.ids == (3, 1)
    assert q.service_codes == ("flood", "micro_wish")
    assert q.statuses == ("open", "closed")
    assert q.start == datetime(2010, 5, 24, tzinfo=UTC)
    assert q.end == datetime(2010, 6, 24, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ({"status": "pending"}, "status='pending'"),
        ({"start_date": "2010-05-24"}, "start_date='2010-05-24'"),
        ({"start_date": "2010-05-24T00:00:00"}, "start_date="),  # no zone
        ({"start_date": "2010-01-01T00:00:00Z", "end_date": "2010-06-01T00:00:00Z"}, "90 days"),
        ({"start_date": "2010-02-01T00:00:00Z", "end_date": "2010-01-01T00:00:00Z"}, "before"),
        ({"service_request_id": "1,x"}, "service_request_id='x'"),
        ({"service_code": "nope"}, "service_code='nope'"),
        ({"service_code": "a\x00b"}, "NUL"),
        ({"status": "o" * 21}, "at most 20"),
    ],
)
def test_bad_queries_name_the_argument_and_value(args: dict[str, str], names: str) -> None:
    with pytest.raises(Open311Error) as err:
        parse_requests_query(args, CAT, NOW)
    assert err.value.status == 400 and names in str(err.value)


def test_flag() -> None:
    assert flag({"extended_attributes": "true"}, "extended_attributes")
    assert not flag({}, "extended_attributes")
    with pytest.raises(Open311Error, match="extended_attributes='maybe'"):
        flag({"extended_attributes": "maybe"}, "extended_attributes")


def test_w3c_dates_carry_the_offset() -> None:
    at = datetime(2025, 9, 16, 1, 0, 0, 123456, tzinfo=UTC)
    assert w3c(at, TZ) == "2025-09-16T09:00:00+08:00"
    with pytest.raises(ValueError):
        w3c(datetime(2025, 9, 16), TZ)


def test_xml_has_the_declaration_roots_items_and_escapes_what_people_typed() -> None:
    hostile = '</description><evil attr="1">&amp;\x00\x07\ud800 纠纷'
    doc = [{"service_request_id": "7", "description": hostile, "account_id": None, "ok": True}]
    body = render("xml", "service_requests", doc)
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<service_requests>')
    root = ET.fromstring(body)
    assert root.tag == "service_requests"
    (item,) = list(root)
    assert item.tag == "request"
    assert item.findtext("description") == clean_text(hostile)
    assert item.findtext("description") == '</description><evil attr="1">&amp; 纠纷'
    assert item.find("evil") is None
    assert b"<account_id />" in body and item.findtext("account_id") == ""
    assert item.findtext("ok") == "true"


def test_nested_lists_use_the_spec_item_names() -> None:
    body = to_xml(
        "service_definition",
        {"service_code": "x", "attributes": [{"code": "A", "values": [{"key": "k", "name": "n"}]}]},
    )
    root = ET.fromstring(body)
    assert root.find("attributes/attribute/values/value/key") is not None


def test_json_is_the_same_tree_in_utf8() -> None:
    body = render("json", "services", [{"service_name": "微心愿", "metadata": False}])
    assert json.loads(body.decode("utf-8")) == [{"service_name": "微心愿", "metadata": False}]
    assert "微心愿".encode() in body


def test_residents_reporting_fire_get_the_urgent_deadlines() -> None:
    fire, flood, parking = CAT.get("fire_smoke"), CAT.get("flood"), CAT.get("illegal_parking")
    assert fire is not None and fire.severity == 1
    assert flood is not None and flood.severity == 2
    assert parking is not None and parking.severity == 3
