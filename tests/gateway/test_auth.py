"""Accounts, tokens and keys: who gets in, who is turned away with 401, and the CLI."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest

from gateway.api.app import api_routes, create_app
from gateway.auth.config import token_config
from gateway.auth.errors import InvalidCredentials, UnknownPerson
from gateway.auth.passwords import hash_password, verify_password
from gateway.auth.principal import role_from_posts, scope_for
from gateway.auth.tokens import TokenConfig, decode_token, issue_token
from gateway.process import Gateway
from gridwatch.cli import main
from gridwatch.domain import Role
from gridwatch.settings import Settings
from gridwatch.town import Town
from tests.gateway.auth_support import DUTY, PASSWORD, TEST_SECRET, bearer, case_in, token_for

CONFIG = Path(__file__).resolve().parents[2] / "config"
GRID_LEADER = "P00003"  # leader of grid V01-G01
VILLAGE_LEADER = "P00002"  # leader of village V01
POLICE = "P01337"  # department staff, police


def config(**kw: object) -> TokenConfig:
    base: dict[str, object] = {
        "kid": "k2",
        "keys": {"k2": TEST_SECRET, "k1": TEST_SECRET[::-1]},
        "issuer": "gridwatch",
        "audience": "gridwatch-api",
        "ttl_s": 600,
    }
    return TokenConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_a_token_verifies_and_names_its_subject_and_key() -> None:
    claims = decode_token(config(), issue_token(config(), "P00003"))
    assert claims.subject == "P00003" and claims.kid == "k2" and len(claims.jti) == 32
    assert claims.expires_at - claims.issued_at == timedelta(seconds=600)


def test_a_token_of_the_retired_key_still_verifies_until_the_key_is_dropped() -> None:
    old = issue_token(config(kid="k1"), "P00003")
    assert decode_token(config(), old).kid == "k1"
    with pytest.raises(InvalidCredentials, match="key id"):
        decode_token(config(keys={"k2": TEST_SECRET}), old)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (
            lambda: issue_token(config(), "P1", now=datetime.now(UTC) - timedelta(hours=1)),
            "expired",
        ),
        (
            lambda: issue_token(config(), "P1", now=datetime.now(UTC) + timedelta(hours=1)),
            "yet valid",
        ),
        (lambda: issue_token(config(audience="someone-else"), "P1"), "audience"),
        (lambda: issue_token(config(issuer="elsewhere"), "P1"), "issuer"),
        (lambda: issue_token(config(keys={"k2": "x" * 40}), "P1"), "Signature"),
        (lambda: issue_token(config(), "P1")[:-3] + "AAA", "Signature"),
        (lambda: jwt.encode({"sub": "P1"}, "", algorithm="none", headers={"kid": "k2"}), "alg"),
        (
            lambda: jwt.encode(
                {"sub": "P1", "iss": "gridwatch", "aud": "gridwatch-api"},
                TEST_SECRET,
                algorithm="HS256",
                headers={"kid": "k2"},
            ),
            "exp",
        ),
        (lambda: "not.a.token", "malformed"),
    ],
)
def test_expired_early_foreign_tampered_or_unsigned_tokens_are_refused(
    make: object, why: str
) -> None:
    token = make()  # type: ignore[operator]
    with pytest.raises(InvalidCredentials) as err:
        decode_token(config(), token)
    assert why.lower() in str(err.value).lower()


def test_a_short_key_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        config(keys={"k2": "short"})


def test_passwords_are_argon2id_and_verify() -> None:
    h = hash_password(PASSWORD)
    assert h.startswith("$argon2id$")
    assert verify_password(h, PASSWORD) and not verify_password(h, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    with pytest.raises(ValueError, match="8 to 256"):
        hash_password("short")


def test_roles_and_scopes_follow_the_posts_in_people_yaml(town: Town) -> None:
    assert role_from_posts(town, town.people[GRID_LEADER]) is Role.GRID_LEADER
    assert role_from_posts(town, town.people[VILLAGE_LEADER]) is Role.VILLAGE_LEADER
    assert role_from_posts(town, town.people["P00001"]) is Role.TOWN_LEADER
    assert role_from_posts(town, town.people[POLICE]) is Role.DEPARTMENT_STAFF
    assert role_from_posts(town, town.people[DUTY]) is Role.DUTY_COMMANDER
    with pytest.raises(UnknownPerson, match="liaison"):
        role_from_posts(town, town.people["P00005"])  # a unit's liaison household

    grid = scope_for(town, Role.GRID_LEADER, GRID_LEADER)
    assert grid.grids == {"V01-G01"} and not grid.villages and not grid.all
    assert grid.units == set(town.hierarchy.units_under("V01-G01")) and grid.phones
    village = scope_for(town, Role.VILLAGE_LEADER, VILLAGE_LEADER)
    assert village.villages == {"V01"} and "V01-G01" in village.grids
    assert village.units == set(town.hierarchy.units_under("V01"))
    police = scope_for(town, Role.DEPARTMENT_STAFF, POLICE)
    assert police.departments == {"police"} and not police.units and not police.phones
    assert scope_for(town, Role.DUTY_COMMANDER, DUTY).all
    assert scope_for(town, Role.PLATFORM, None).all
    # A role given by --role that the person's posts do not back sees nothing.
    assert scope_for(town, Role.GRID_LEADER, POLICE).empty


@pytest.fixture
def api(gw_settings: Settings, town: Town) -> Iterator[Gateway]:
    gw = Gateway(gw_settings.model_copy(update={"token_rate_per_min": 5}), town=town, ingest=False)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


#: Open without an account: health and metrics, the console, its files and its text (the
#: login page is labelled before anyone logs in), the docs.
PUBLIC = {
    "/health", "/metrics", "/api/v1/auth/token", "/", "/console/messages.json", "/docs",
    "/openapi.json",
}  # fmt: skip


def test_every_route_but_health_and_the_console_needs_authentication(
    api: Gateway, gw_settings: Settings, town: Town
) -> None:
    app = create_app(gw_settings, town)
    routes = [r for r in api_routes(app) if r.path not in PUBLIC]
    assert len(routes) >= 6
    expired = issue_token(
        token_config(gw_settings), DUTY, now=datetime.now(UTC) - timedelta(days=1)
    )
    token_for(gw_settings, DUTY, Role.DUTY_COMMANDER)
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for route in routes:
            path = route.path.replace("{case_id}", "1").replace("{event_id}", "0" * 32)
            for method in route.methods or ():
                for headers in ({}, bearer(expired), {"X-API-Key": "gwk_" + "x" * 40}):
                    res = client.request(method, path, headers=headers)
                    assert res.status_code == 401, (method, path, headers, res.text)
                    assert res.headers["WWW-Authenticate"] == "Bearer"
        assert client.get("/health").status_code == 200
        assert client.get("/static/console.js").status_code == 200


def test_openapi_declares_the_bearer_and_key_schemes(api: Gateway) -> None:
    spec = httpx.get(f"{api.url}/openapi.json", timeout=10).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["APIKeyHeader"]["description"],
    }
    assert spec["paths"]["/api/v1/cases"]["get"]["security"]


def test_password_login_gives_a_token_and_a_disabled_account_is_locked_out_at_once(
    api: Gateway, gw_settings: Settings
) -> None:
    token_for(gw_settings, GRID_LEADER, Role.GRID_LEADER)
    with httpx.Client(base_url=api.url, timeout=10) as client:
        wrong = client.post(
            "/api/v1/auth/token", data={"username": GRID_LEADER, "password": "nope-nope"}
        )
        assert wrong.status_code == 401
        nobody = client.post("/api/v1/auth/token", data={"username": "P99999", "password": "x"})
        assert nobody.status_code == 401 and nobody.json() == wrong.json()
        res = client.post(
            "/api/v1/auth/token", data={"username": GRID_LEADER, "password": PASSWORD}
        )
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == gw_settings.token_ttl_s
        me = client.get("/api/v1/auth/me", headers=bearer(body["access_token"])).json()
        assert me["role"] == "grid_leader" and me["scope"]["grids"] == ["V01-G01"]
        with psycopg.connect(gw_settings.database_url) as conn:
            conn.execute("UPDATE accounts SET disabled = true WHERE person_id = %s", (GRID_LEADER,))
        locked = client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
        assert locked.status_code == 401
        again = client.post(
            "/api/v1/auth/token", data={"username": GRID_LEADER, "password": PASSWORD}
        )
        assert again.status_code == 401


def test_the_token_endpoint_is_rate_limited_per_address(api: Gateway) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as client:
        codes = [
            client.post("/api/v1/auth/token", data={"username": "P1", "password": "x"}).status_code
            for _ in range(7)
        ]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_users_and_keys_end_to_end(
    api: Gateway,
    gw_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GRIDWATCH_DATABASE_URL", gw_settings.database_url)
    monkeypatch.setenv("GRIDWATCH_JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("GRIDWATCH_CONFIG_DIR", str(CONFIG))
    code, out, err = run_cli(monkeypatch, capsys, "users", "add", "P99999", "--password-stdin")
    assert code == 2 and "P99999" in err
    code, out, err = run_cli(
        monkeypatch, capsys, "users", "add", "P00005", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 2 and "--role" in err  # a liaison: no role follows from the posts
    code, out, _ = run_cli(
        monkeypatch, capsys, "users", "add", GRID_LEADER, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0 and '"grid_leader"' in out
    code, out, _ = run_cli(monkeypatch, capsys, "users", "token", GRID_LEADER, "--ttl", "120")
    token = out.strip().splitlines()[-1]
    with httpx.Client(base_url=api.url, timeout=10) as client:
        assert (
            client.get("/api/v1/auth/me", headers=bearer(token)).json()["person_id"] == GRID_LEADER
        )
        code, out, _ = run_cli(monkeypatch, capsys, "users", "list")
        assert code == 0 and GRID_LEADER in out
        code, out, _ = run_cli(
            monkeypatch, capsys, "users", "passwd", GRID_LEADER, "--password-stdin",
            stdin="another good password\n",
        )  # fmt: skip
        ok = client.post(
            "/api/v1/auth/token",
            data={"username": GRID_LEADER, "password": "another good password"},
        )
        assert code == 0 and ok.status_code == 200
        assert run_cli(monkeypatch, capsys, "users", "disable", GRID_LEADER)[0] == 0
        assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401

        code, out, _ = run_cli(
            monkeypatch, capsys, "keys", "create", "--name", "city platform", "--role", "platform"
        )
        key = out.strip().splitlines()[-1]
        assert code == 0 and key.startswith("gwk_")
        me = client.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()
        assert me["role"] == "platform" and me["subject"].startswith("key:")
        with psycopg.connect(gw_settings.database_url) as conn:
            stored = conn.execute("SELECT secret_sha256 FROM api_keys").fetchone()
        assert stored is not None and key.encode() not in bytes(stored[0])
        key_id = me["subject"].removeprefix("key:")
        assert run_cli(monkeypatch, capsys, "keys", "revoke", key_id)[0] == 0
        assert client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401
        assert run_cli(monkeypatch, capsys, "keys", "revoke", key_id)[0] == 2


def test_the_gateway_refuses_to_start_with_the_default_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRIDWATCH_JWT_SECRET", raising=False)
    started = time.monotonic()
    code, out, _ = run_cli(monkeypatch, capsys, "gateway", "--no-ingest")
    assert code == 2 and "GRIDWATCH_JWT_SECRET" in out
    assert time.monotonic() - started < 10


def test_a_changed_role_gives_its_scope_on_the_very_next_request(
    api: Gateway, gw_settings: Settings
) -> None:
    token = token_for(gw_settings, GRID_LEADER, Role.GRID_LEADER)
    with psycopg.connect(gw_settings.database_url) as conn:
        mine = case_in(conn, "V01-G01-U02", "V01-G01", "V01")
        other = case_in(conn, "V02-G03-U02", "V02-G03", "V02")

    def listed() -> set[int]:
        res = httpx.get(f"{api.url}/api/v1/cases", headers=bearer(token), timeout=10)
        assert res.status_code == 200, res.text
        return {c["id"] for c in res.json()}

    def set_role(role: Role) -> None:
        with psycopg.connect(gw_settings.database_url) as conn:
            conn.execute(
                "UPDATE accounts SET role = %s WHERE person_id = %s", (role.value, GRID_LEADER)
            )

    assert listed() == {mine}
    set_role(Role.DUTY_COMMANDER)
    assert listed() == {mine, other}
    assert listed() == {mine, other}
    set_role(Role.GRID_LEADER)
    assert listed() == {mine}
    detail = httpx.get(f"{api.url}/api/v1/cases/{other}", headers=bearer(token), timeout=10)
    assert detail.status_code == 404
