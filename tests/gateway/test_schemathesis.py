"""Schemathesis against the running gateway's own OpenAPI, as several roles.

A uvicorn server on a migrated database holds the sample town with a few cases,
reports, events, devices and dead letters in three grids. For each operation of
``/openapi.json`` and each role (a bearer token from the real token code, or a
platform's API key), schemathesis generates valid and invalid requests, first
with ids generated at random, then with ids seeded in that role's scope. Every
response must be below 500, declared for its operation, and match its schema;
every operation must answer at least one request with a 2xx.

The SSE stream never ends, so a generated call could not read its body: it is
opened once per role and checked by hand instead.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.auth.config import token_config
from gateway.auth.store import add_account, create_key
from gateway.auth.tokens import issue_token
from gateway.db.migrate import migrate
from gateway.process import Gateway
from gridwatch.domain import Role
from gridwatch.services import free_port, scratch_database
from gridwatch.settings import Settings, get_settings
from gridwatch.town import Town, load_town
from tests.conftest import RUN_ID
from tests.gateway.auth_support import PASSWORD, TEST_SECRET
from tests.gateway.seed_support import UnitRows, seed_unit

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).resolve().parents[2] / "config"
#: Generated requests per operation, role and generation mode; enough to reach the
#: odd corners (NUL, overlong values, empty strings) while the run stays near a minute.
EXAMPLES = int(os.environ.get("GRIDWATCH_SCHEMATHESIS_EXAMPLES", "5"))
#: With the ids of seeded rows in the caller's scope: these are the 2xx.
SEEDED_EXAMPLES = 2
#: Only the operations whose label holds this (for a closer look at one).
ONLY = os.environ.get("GRIDWATCH_SCHEMATHESIS_ONLY", "")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
LIVE = "GET /api/v1/live"
LOGIN = "POST /api/v1/auth/token"
#: A write each role may make on the seeded rows: a comment on a case they see; a
#: resident's micro-voice in the seeded unit, through Open311.
WRITES: dict[str, dict[str, str]] = {
    "POST /api/v1/cases/{case_id}/actions": {"action": "comment", "note": "巡查时已提醒"},
    "POST /api/v1/cases/{case_id}/tasks/{department}": {"action": "accept"},
    "POST /api/v1/cases/{case_id}/consultation": {"body": "今晚联合巡查"},
    "POST /open311/v2/requests.{fmt}": {
        "service_code": "micro_voice",
        "address_id": "V01-G01-U02",
        "description": "楼道灯不亮",
    },
}
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Caller:
    """One role: who, the headers that authenticate them, and ids in their scope."""

    role: str
    person_id: str | None
    headers: dict[str, str]
    ids: dict[str, Any]


@dataclass
class Run:
    """What the run saw: statuses per operation, and every failed check."""

    statuses: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def record(
        self, case: Case[Any], role: str, response: Response, failures: list[Failure]
    ) -> None:
        label = case.operation.label
        self.statuses[label].add(response.status_code)
        for failure in failures:
            # One report per operation and kind of failure: the first example shows it.
            self.failures.setdefault(
                (label, failure.title),
                f"[{role}] {failure}\n{case.as_curl_command()}\n-> {response.text[:300]}",
            )


@pytest.fixture(scope="module")
def town() -> Town:
    return load_town(CONFIG)


@pytest.fixture(scope="module")
def api_settings(
    pg_admin_url: str, mqtt_broker: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    name = f"gwtest_{RUN_ID}_st_{uuid.uuid4().hex[:6]}"
    with scratch_database(pg_admin_url, name) as dsn:
        migrate(dsn)
        yield get_settings(
            database_url=dsn,
            snapshot_dir=tmp_path_factory.mktemp("snapshots"),
            mqtt_host=mqtt_broker[0],
            mqtt_port=mqtt_broker[1],
            topic_prefix=f"gwtest/{RUN_ID}/st{uuid.uuid4().hex[:6]}",
            http_host="127.0.0.1",
            http_port=free_port(),
            jwt_secret=TEST_SECRET,
            # Generated logins must not lock the seeded one out.
            token_rate_per_min=10_000,
        )


@pytest.fixture(scope="module")
def callers(api_settings: Settings) -> list[Caller]:
    """The roles, each with seeded rows in scope: a unit leader of V01-G01-U02, the grid
    leader of V01-G01, police staff (cases of V02-G03-U02 go to the police), and the
    town-wide roles (duty commander, device admin, auditor, a platform's API key)."""
    dsn = api_settings.database_url
    prefix = api_settings.topic_prefix
    snaps = api_settings.snapshot_root
    own = seed_unit(dsn, prefix, "V01-G01-U02", "cam-0001", None, snaps)
    grid = seed_unit(dsn, prefix, "V01-G01-U04", "cam-0002", None, snaps)
    police = seed_unit(dsn, prefix, "V02-G03-U02", "cam-0013", "police", snaps)
    # The police report is a joint case, so its tasks and consultation have 2xx answers.
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO case_tasks (case_id, department_id, assignee, status, due_at,"
            " created_at, updated_at) SELECT %s, d, c, 'open', now() + interval '1 day',"
            " now(), now() FROM (VALUES ('police', 'P01337'), ('urban', 'P01340')) AS v (d, c)",
            (police.report_id,),
        )

    def ids(s: UnitRows, person: str) -> dict[str, Any]:
        # /cases/{case_id} and /reports/{case_id} share the name: a report is a case.
        return {
            "case_id": s.report_id,
            "event_id": s.event_id,
            "device_id": s.device,
            "dead_letter_id": s.dead_letter_id,
            "person_id": person,
            "request_id": s.report_id,  # Open311's service_request_id is the case id
            "code": "micro_voice",
            "sha256": s.snapshot_sha256,
            "department": "police",  # the seeded joint case's police task
        }

    people = [
        ("duty_commander", "P01352", Role.DUTY_COMMANDER, ids(police, "P00067")),
        ("unit_leader", "P00006", Role.UNIT_LEADER, ids(own, "P00006")),
        ("grid_leader", "P00003", Role.GRID_LEADER, ids(grid, "P00006")),
        ("department_staff", "P01337", Role.DEPARTMENT_STAFF, ids(police, "P01337")),
        ("device_admin", "P01353", Role.DEVICE_ADMIN, ids(grid, "P00003")),
        ("auditor", "P01354", Role.AUDITOR, ids(own, "P00064")),
    ]
    tokens = token_config(api_settings)
    out: list[Caller] = []
    with psycopg.connect(dsn) as conn:
        for name, person, role, seeded in people:
            add_account(conn, person, role, PASSWORD)
            bearer = {"Authorization": f"Bearer {issue_token(tokens, person)}"}
            out.append(Caller(name, person, bearer, seeded))
        _, key = create_key(conn, "city platform", Role.PLATFORM, "tests")
        out.append(Caller("platform", None, {"X-API-Key": key}, ids(police, "P00064")))
    return out


@pytest.fixture(scope="module")
def gateway(api_settings: Settings, town: Town, callers: list[Caller]) -> Iterator[Gateway]:
    with Gateway(api_settings, town=town, ingest=False) as gw:
        yield gw


@pytest.fixture(scope="module")
def open311_token(gateway: Gateway, callers: list[Caller]) -> str:
    """A token from a resident's micro-voice, as the platform submits it through Open311."""
    platform = next(c for c in callers if c.role == "platform")
    answer = httpx.post(
        f"{gateway.url}/open311/v2/requests.json",
        data=WRITES["POST /open311/v2/requests.{fmt}"],
        headers=platform.headers,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()[0]["token"]
    return token


def _explore(
    strategy: st.SearchStrategy[Case[Any]], check: Callable[[Case[Any]], None], examples: int
) -> None:
    """Run ``check`` on ``examples`` generated cases: explicit examples, then generated,
    no shrinking (a failure is recorded, not raised) and the same inputs every run."""

    @settings(
        max_examples=examples,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def explore(case: Case[Any]) -> None:
        check(case)

    explore()


def test_every_operation_conforms_for_every_role(
    gateway: Gateway, callers: list[Caller], open311_token: str
) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json", timeout=10)
    run = Run()
    operations: list[APIOperation[Any, Any, Any, Any]] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        if ONLY in result.ok().label:
            operations.append(result.ok())
    assert len(operations) >= (1 if ONLY else 15), [op.label for op in operations]

    for index, caller in enumerate(callers):

        def check(case: Case[Any], caller: Caller = caller) -> None:
            response = case.call(base_url=gateway.url, headers=caller.headers, timeout=15)
            failures: list[Failure] = []
            try:
                case.validate_response(response, checks=CHECKS, headers=caller.headers)
            except FailureGroup as group:
                failures = list(group.exceptions)
            except Failure as failure:
                failures = [failure]
            run.record(case, caller.role, response, failures)

        for op in operations:
            if op.label == LIVE:
                continue
            _explore(op.as_strategy(), check, EXAMPLES)
            if index == 0:
                # Invalid input is refused the same way whoever sends it: one role is enough.
                # An operation without parameters or body has nothing to make invalid.
                with contextlib.suppress(Unsatisfiable):
                    negative = op.as_strategy(generation_mode=GenerationMode.NEGATIVE)
                    _explore(negative, check, 2 * EXAMPLES)
            names = {p.name for p in op.path_parameters}
            ids = {**caller.ids, "token": open311_token}
            seeded = {k: v for k, v in ids.items() if k in names}
            body = _login(caller) if op.label == LOGIN else WRITES.get(op.label)
            if seeded or body is not None:
                fixed = op.as_strategy(path_parameters=seeded or None, **_body(op.label, body))
                _explore(fixed, check, SEEDED_EXAMPLES)

    for caller in callers if LIVE in {op.label for op in operations} else ():
        # The stream never ends: open it, read its first line, close it.
        with (
            httpx.Client(base_url=gateway.url, headers=caller.headers, timeout=10) as client,
            client.stream("GET", "/api/v1/live") as stream,
        ):
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert next(stream.iter_lines()).startswith("retry:")
            run.statuses[LIVE].add(stream.status_code)

    problems = [f"{label}: {title}\n{text}" for (label, title), text in run.failures.items()]
    assert not problems, f"{len(problems)} failed checks:\n\n" + "\n\n".join(problems)
    without_2xx = {
        op.label: sorted(run.statuses[op.label])
        for op in operations
        if not any(200 <= s < 300 for s in run.statuses[op.label])
    }
    assert not without_2xx, f"operations that never answered 2xx (statuses seen): {without_2xx}"


def _login(caller: Caller) -> dict[str, str] | None:
    if caller.person_id is None:
        return None
    return {"grant_type": "password", "username": caller.person_id, "password": PASSWORD}


def _body(label: str, body: dict[str, str] | None) -> dict[str, Any]:
    if body is None:
        return {}
    if label.startswith("POST /api/v1/cases/"):
        return {"body": body, "media_type": "application/json"}
    return {"body": body, "media_type": FORM}
