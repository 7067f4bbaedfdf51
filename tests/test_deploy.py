"""docker-compose.yml, the Dockerfile and deploy/systemd/ agree with the project.

Docker cannot run here, so the deployment is read instead: every command goes through
the real CLI parser, every variable through the settings, every path to the tree, the
image, a volume or a documented secret (tests/deploy_support.py). The checker is shown
to fail: on a copy of the files it reads, with one renamed or one line changed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.deploy_support import check_tree, role_split_db

ROOT = Path(__file__).resolve().parents[1]


def test_the_deployment_files_agree_with_the_project() -> None:
    report = check_tree(ROOT)
    assert report.problems == []
    # What it read: the files a reader of the compose file and the units would check.
    for used in (
        "config/edge.yaml",
        "deploy/db/init-roles.sh",
        "deploy/mosquitto/persistence.conf",
    ):
        assert used in report.used


def _copy_used(tmp: Path) -> Path:
    """A tree holding only what the checker reads."""
    for rel in sorted(check_tree(ROOT).used):
        src, dest = ROOT / rel, tmp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest)
    return tmp


@pytest.fixture(scope="module")
def used_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_used(tmp_path_factory.mktemp("deploy-tree"))


#: Read as wholes (COPY'd into the image), never changed by a test: linked, not copied.
PACKAGES = ("gridwatch", "gateway", "detectors", "dispatch", "edge")


@pytest.fixture
def tree(used_tree: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "tree"
    dest.mkdir()
    for entry in used_tree.iterdir():
        if entry.name in PACKAGES:
            (dest / entry.name).symlink_to(entry, target_is_directory=True)
        elif entry.is_dir():
            shutil.copytree(entry, dest / entry.name)
        else:
            shutil.copy2(entry, dest / entry.name)
    return dest


def test_the_copy_of_what_it_reads_passes(tree: Path) -> None:
    assert check_tree(tree).problems == []


@pytest.mark.parametrize(
    "rel",
    [
        "config/edge.yaml",
        "deploy/db/init-roles.sh",
        "deploy/mosquitto/persistence.conf",
        "deploy/systemd/env/gateway.env.example",
        "deploy/systemd/gridwatch-migrate.service",
    ],
)
def test_the_check_fails_when_a_referenced_file_is_renamed(tree: Path, rel: str) -> None:
    (tree / rel).rename(tree / f"{rel}.renamed")
    problems = check_tree(tree).problems
    assert problems, f"renaming {rel} went unnoticed"
    name = Path(rel).name
    assert any(name in p for p in problems), problems


@pytest.mark.parametrize(
    ("rel", "old", "new", "expected"),
    [
        (
            "docker-compose.yml",
            "command: gridwatch dispatch",
            "command: gridwatch dispatch --batches 5",
            "does not parse",
        ),
        (
            "docker-compose.yml",
            "GRIDWATCH_METRICS_HOST: 0.0.0.0",
            "GRIDWATCH_METRICS_HOSTNAME: 0.0.0.0",
            "GRIDWATCH_METRICS_HOSTNAME is not a setting",
        ),
        (
            "docker-compose.yml",
            'GRIDWATCH_HTTP_PORT: "8080"',
            'GRIDWATCH_HTTP_PORT: "8090"',
            "8090",
        ),
        ("docker-compose.yml", "eclipse-mosquitto:2.0.20", "eclipse-mosquitto:latest", "pin"),
        (
            "docker-compose.yml",
            "postgresql://gridwatch_owner:",
            "postgresql://gridwatch_app:",
            "not the owner role",
        ),
        (
            "docker-compose.yml",
            "${GRIDWATCH_JWT_SECRET:?set GRIDWATCH_JWT_SECRET in .env}",
            "not-so-secret",
            "written in the file",
        ),
        ("docker-compose.yml", "deploy: {replicas: 2}", "deploy: {replicas: 1}", "replica"),
        ("docker-compose.yml", "edgedata:/var/lib/gridwatch", "edgedata:/srv/edge", "state_dir"),
        ("docker-compose.yml", "--tls-port 8883", "--tls-port 8884", "TLS port 8884"),
        ("Dockerfile", "USER gridwatch", "USER root", "root"),
        ("Dockerfile", "COPY edge edge", "", "package edge"),
        ("deploy/systemd/gridwatch-dispatch.service", "User=gridwatch", "User=root", "User="),
        (
            "deploy/systemd/gridwatch-deliver.service",
            "Requires=gridwatch-migrate.service",
            "Requires=network-online.target",
            "Requires= lacks gridwatch-migrate",
        ),
        (
            "deploy/systemd/gridwatch-gateway@.service",
            "Environment=GRIDWATCH_HTTP_REUSE_PORT=true\n",
            "",
            "REUSE_PORT",
        ),
        (
            "deploy/systemd/env/gateway.env.example",
            "GRIDWATCH_JWT_SECRET=",
            "GRIDWATCH_JWT_SECRET=x",
            "has a value",
        ),
        ("config/edge.yaml", "- id: cam-0002", "- id: cam-9999", "cam-9999"),
        (
            "deploy/db/init-roles.sh",
            "${GRIDWATCH_SERVICE_ROLE:-gridwatch_app}",
            "${GRIDWATCH_SERVICE_ROLE:-gridwatch_svc}",
            "GRIDWATCH_SERVICE_ROLE",
        ),
    ],
)
def test_a_changed_line_is_reported(
    tree: Path, rel: str, old: str, new: str, expected: str
) -> None:
    path = tree / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    problems = check_tree(tree).problems
    assert any(expected in p for p in problems), problems


def _systemd_verify(units: Path) -> str:
    """What systemd's own parser says of the units (ExecStart pointed at this venv's
    gridwatch, which verify requires to exist); empty when it accepts them all."""
    gridwatch = Path(sys.executable).parent / "gridwatch"
    for unit in units.glob("*.service"):
        unit.write_text(
            unit.read_text().replace("/opt/gridwatch/venv/bin/gridwatch", str(gridwatch))
        )
    files = sorted(str(p) for p in units.iterdir() if p.suffix in (".service", ".timer", ".target"))
    done = subprocess.run(
        ["systemd-analyze", "verify", *files], capture_output=True, text=True, timeout=120
    )
    return (done.stdout + done.stderr).strip()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_itself_accepts_every_unit(tmp_path: Path) -> None:
    units = tmp_path / "units"
    shutil.copytree(ROOT / "deploy/systemd", units)
    assert _systemd_verify(units) == ""
    # And it would say so: a misspelt key in one unit.
    dispatch = units / "gridwatch-dispatch.service"
    dispatch.write_text(dispatch.read_text().replace("KillSignal=", "KillSignall="))
    assert "Unknown key 'KillSignall'" in _systemd_verify(units)


def test_the_docs_show_the_emqx_acl_that_broker_config_writes() -> None:
    from gridwatch.broker import emqx_acl_text

    for doc in ("docs/mqtt-security.md", "docs/deployment.md"):
        text = (ROOT / doc).read_text()
        for line in emqx_acl_text("gw").splitlines():
            assert line in text, f"{doc} lacks {line}"


def _mosquitto_rights(text: str) -> set[tuple[str, str, str]]:
    rights, who = set(), ""
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["user"]:
            who = words[1]
        elif words[:1] in (["pattern"], ["topic"]):
            action = {"write": "publish", "read": "subscribe"}[words[1]]
            rights.add(("device" if words[0] == "pattern" else who, action, words[2]))
    return {(w, a, t.replace("%u", "{u}")) for w, a, t in rights}


def _emqx_rights(text: str) -> set[tuple[str, str, str]]:
    rights = set()
    rule = re.compile(
        r'^\{allow, (all|\{username, "([^"]+)"\}), (publish|subscribe), \[(.*)\]\}\.$'
    )
    for line in text.splitlines():
        m = rule.match(line)
        if m is None:
            assert line.startswith("%%") or line == "{deny, all}.", line
            continue
        who = m.group(2) or "device"
        for quoted in m.group(4).split(", "):
            t = quoted.strip('"').replace("${username}", "{u}")
            rights.add((who, m.group(3), re.sub(r"^\$share/\+/", "", t)))
    return rights


def test_the_emqx_acl_grants_what_the_mosquitto_acl_grants() -> None:
    from gridwatch.broker import acl_text, emqx_acl_text

    for prefix in ("gw", "city/a"):
        mosquitto, emqx = _mosquitto_rights(acl_text(prefix)), _emqx_rights(emqx_acl_text(prefix))
        assert mosquitto == emqx
        assert ("device", "publish", f"{prefix}/v1/dev/{{u}}/event") in emqx
        assert ("device", "subscribe", f"{prefix}/v1/dev/{{u}}/ack") in emqx
        assert not any(w == "device" and "+" in t for w, _, t in emqx)


# ------------------------------------------------ the roles of deploy/db/init-roles.sh


@pytest.fixture
def role_split(pg_admin_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    with role_split_db(pg_admin_url, ROOT) as (dsn, names):
        yield dsn, {"owner": names["gridwatch_owner"], "app": names["gridwatch_app"],
                    "api": names["gridwatch_api"]}  # fmt: skip


def test_the_owner_role_migrates_and_the_service_role_only_reads_and_writes(
    role_split: tuple[str, dict[str, str]],
) -> None:
    from gateway.db.migrate import migrate

    dsn, roles = role_split

    def as_role(role: str) -> str:
        return psycopg.conninfo.make_conninfo(dsn, user=role)

    applied = migrate(
        as_role(roles["owner"]),
        owner_role=roles["owner"],
        service_role=roles["app"],
        api_role=roles["api"],
        tz="Asia/Shanghai",
    )
    assert applied
    with psycopg.connect(as_role(roles["owner"])) as conn:
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert superuser.fetchone() == (False,)
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        assert owners == [(roles["owner"],)]
    with psycopg.connect(as_role(roles["app"]), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO dead_letters (topic, reason, payload, payload_size)"
            " VALUES ('t', 'test', '\\x00', 1)"
        )
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE sneaky (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE dead_letters")
    # The services' own work, as the service role: COPY of events (refused under row-level
    # security until 0084), the dispatcher's cases and notices.
    from gridwatch.town import load_town
    from tests.drill_support import CONFIG, counts, fill

    stats = fill(as_role(roles["app"]), load_town(CONFIG), cameras=3, per_camera=4)
    assert stats.events == 12
    stored = counts(as_role(roles["app"]))
    assert (stored["events"], stored["cases"]) == (12, 3)
