"""Checks that ``docker-compose.yml``, the ``Dockerfile`` and ``deploy/systemd/`` agree with
the project: every gridwatch command parses with the real CLI parser, every GRIDWATCH_*
variable is a setting and the settings validate, every path lies in the image, a volume
or a documented secret, every config file exists and loads, image tags are pinned and
ports are the ones the processes listen on.

``check_tree(root)`` returns the problems, one line each; none is a pass. It reads the
files under ``root`` (a checkout, or a copy of what ``referenced_files`` names), and
the code (parser, settings, edge config models) from the installed gridwatch.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

COMPOSE = "docker-compose.yml"
DOCKERFILE = "Dockerfile"
SYSTEMD = "deploy/systemd"
SYSTEMD_README = f"{SYSTEMD}/README.md"
COMPOSE_ENV = "deploy/env.example"
#: Host folder of operator-made secrets (TLS keys): never in git, so it must be ignored.
SECRETS = "secrets"
SERVICE_USER = "gridwatch"
UNIT_SUFFIXES = (".service", ".target", ".timer")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([?-])([^}]*))?\}")
#: libyaml's loader: devices.yaml is large, and the pure-Python one takes seconds.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[A-Za-z0-9_/]*)")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    #: Files of the tree the deployment uses (relative to the root).
    used: set[str] = field(default_factory=set)

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


# ---------------------------------------------------------------- the project's side


def settings_env_names() -> dict[str, str]:
    """GRIDWATCH_* variable -> setting field name."""
    from gridwatch.settings import Settings

    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper(): name for name in Settings.model_fields}


def _placeholder(env_name: str) -> str:
    """A value of the right shape for a secret the deployment leaves to the operator."""
    from gridwatch.settings import Settings

    name = settings_env_names().get(env_name)
    if name is not None and typing.get_origin(Settings.model_fields[name].annotation) is dict:
        return "{}"
    return f"operator-{env_name.lower()}"


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("GRIDWATCH_")}
    for k in saved:
        del os.environ[k]
    os.environ.update(values)
    try:
        yield
    finally:
        for k in values:
            os.environ.pop(k, None)
        os.environ.update(saved)


def check_settings(where: str, env: Mapping[str, str], report: Report) -> Any:
    """Every GRIDWATCH_* name is a setting and the whole set validates; the Settings."""
    from pydantic import ValidationError

    from gridwatch.settings import Settings

    known = settings_env_names()
    ours = {k: v for k, v in env.items() if k.startswith("GRIDWATCH_")}
    for name in sorted(set(ours) - set(known)):
        report.add(where, f"{name} is not a setting of gridwatch/settings.py")
    with _environ({k: v for k, v in ours.items() if k in known}):
        try:
            return Settings()
        except ValidationError as exc:
            report.add(where, f"settings do not validate: {exc}".replace("\n", " "))
            return None


def parse_command(where: str, argv: list[str], report: Report) -> Any:
    """The argparse namespace of ``gridwatch ARGV`` (real parser), or None with a problem."""
    from gridwatch.cli import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return build_parser().parse_args(argv)
    except SystemExit:
        msg = err.getvalue().strip().splitlines()
        report.add(where, f"`gridwatch {shlex.join(argv)}` does not parse: {msg[-1:]}")
        return None


def _path_args(ns: Any) -> list[Path]:
    return [v for v in vars(ns).values() if isinstance(v, Path)]


def _dsn_user(dsn: str) -> str | None:
    m = re.match(r"postgresql://([^:@/]+)", dsn)
    return m.group(1) if m else None


def _dsn_host(dsn: str) -> str | None:
    m = re.match(r"postgresql://[^@]*@([^:/]+)", dsn)
    return m.group(1) if m else None


def _under(path: PurePosixPath, base: PurePosixPath) -> bool:
    return path == base or base in path.parents


# ---------------------------------------------------------------- the Dockerfile


@dataclass
class Image:
    base: str = ""
    workdir: PurePosixPath = field(default_factory=lambda: PurePosixPath("/"))
    #: Image path -> path in the tree.
    copies: dict[PurePosixPath, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    #: Folders created for, and owned by, the service user.
    owned: list[PurePosixPath] = field(default_factory=list)
    user: str = "root"
    runs: list[str] = field(default_factory=list)

    def tree_path(self, path: PurePosixPath) -> str | None:
        for dest, src in sorted(self.copies.items(), key=lambda kv: -len(str(kv[0]))):
            if _under(path, dest):
                rest = path.relative_to(dest)
                return src if str(rest) == "." else f"{src}/{rest}"
        return None


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            yield op.upper(), rest.strip()


def check_dockerfile(root: Path, report: Report) -> Image:
    where = DOCKERFILE
    report.used.add(DOCKERFILE)
    img = Image()
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    report.used.add("pyproject.toml")
    args: dict[str, str] = {}
    for op, rest in _instructions((root / DOCKERFILE).read_text()):
        if op == "FROM":
            img.base = rest
        elif op == "ARG":
            k, _, v = rest.partition("=")
            args[k] = v
        elif op == "WORKDIR":
            img.workdir = img.workdir / rest
        elif op == "COPY":
            *srcs, dest = shlex.split(rest)
            target = img.workdir / dest
            for src in srcs:
                report.used.add(src)
                if not (root / src).exists():
                    report.add(where, f"COPY {src}: no such file or folder in the tree")
                if len(srcs) > 1 or dest.endswith("/"):
                    img.copies[target / Path(src).name] = src
                else:
                    img.copies[target] = src
        elif op == "ENV":
            for item in shlex.split(rest):
                k, _, v = item.partition("=")
                img.env[k] = v
        elif op == "USER":
            img.user = rest
        elif op == "RUN":
            img.runs.append(rest)
            for part in re.split(r"&&|;", rest):
                words = shlex.split(part)
                if words[:2] == ["install", "-d"] and SERVICE_USER in words:
                    img.owned += [PurePosixPath(w) for w in words if w.startswith("/")]
    if not re.match(r"^[\w./-]+:[\w.-]+$", img.base) or img.base.endswith(":latest"):
        report.add(where, f"FROM {img.base!r}: pin a tag (not latest)")
    if img.user in ("root", "0") or not img.user:
        report.add(where, f"USER {img.user!r}: the image must not run as root")
    # Every package the wheel ships must be in the image.
    for pkg in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        name = pkg.rstrip("*")
        if img.tree_path(img.workdir / name) is None:
            report.add(where, f"package {name} (pyproject) is not copied into the image")
    extras = set(pyproject["project"]["optional-dependencies"])
    for run in img.runs:
        for m in re.finditer(r"'\.\[([a-z0-9_,]+)\]'", run):
            for extra in m.group(1).split(","):
                if extra not in extras:
                    report.add(where, f"pip install extra {extra!r} is not in pyproject")
        for m in re.finditer(r"python -m gridwatch\.assets fetch ([\w. ]+)", run):
            from gridwatch.assets import ASSETS

            for name in m.group(1).split():
                if name not in ASSETS:
                    report.add(where, f"asset {name!r} is not one of {sorted(ASSETS)}")
    check_settings(where, {**img.env, "GRIDWATCH_JWT_SECRET": "x" * 32}, report)
    config_dir = img.env.get("GRIDWATCH_CONFIG_DIR")
    if config_dir is None or img.tree_path(PurePosixPath(config_dir)) is None:
        report.add(where, f"GRIDWATCH_CONFIG_DIR={config_dir!r} is not a folder COPY'd in")
    cache = img.env.get("GRIDWATCH_CACHE_DIR")
    if cache is None or not any(f"chown -R root:{SERVICE_USER} {cache}" in r for r in img.runs):
        report.add(
            where, f"GRIDWATCH_CACHE_DIR={cache!r}: the weights must be readable by the user"
        )
    return img


# ---------------------------------------------------------------- docker-compose.yml


@dataclass
class Mount:
    source: str
    target: PurePosixPath
    read_only: bool
    named: bool


def _mounts(svc: Mapping[str, Any]) -> list[Mount]:
    out = []
    for spec in svc.get("volumes", []):
        parts = str(spec).split(":")
        ro = len(parts) > 2 and "ro" in parts[2].split(",")
        named = not parts[0].startswith((".", "/"))
        out.append(Mount(parts[0], PurePosixPath(parts[1]), ro, named))
    return out


def _interpolate(value: str, where: str, report: Report, env_example: set[str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if op == "-":
            return arg
        if op != "?":
            report.add(where, f"${{{name}}} has neither a default nor :? (required)")
        if name not in env_example:
            report.add(where, f"${{{name}}} is not listed in {COMPOSE_ENV}")
        return _placeholder(name)

    return _VAR.sub(sub, value)


def _secret_name(name: str) -> bool:
    return bool(re.search(r"PASSWORD|SECRET", name))


def _env_example(root: Path, rel: str, report: Report) -> dict[str, str]:
    report.used.add(rel)
    out: dict[str, str] = {}
    for line in (root / rel).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
            if _secret_name(k) and v.strip():
                report.add(rel, f"{k} has a value: secrets have no default")
    return out


def _healthcheck_url(svc: Mapping[str, Any]) -> tuple[int, str] | None:
    test = svc.get("healthcheck", {}).get("test")
    text = " ".join(test) if isinstance(test, list) else str(test or "")
    m = _URL.search(text)
    return (int(m.group(1)), m.group(2)) if m else None


def check_compose(root: Path, img: Image, report: Report) -> None:
    from gateway.db.migrate import OWNER_ROLE

    report.used.add(COMPOSE)
    doc = yaml.load((root / COMPOSE).read_text(), Loader=_LOADER)
    services: dict[str, Any] = doc["services"]
    declared = set(doc.get("volumes") or {})
    example = _env_example(root, COMPOSE_ENV, report)
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    outs: dict[str, tuple[str, PurePosixPath, int]] = {}  # broker config: volume, --out, port
    for name, svc in services.items():
        where = f"{COMPOSE} service {name}"
        ours = "build" in svc
        image = str(svc.get("image", ""))
        if ours and image != f"gridwatch:{version}":
            report.add(where, f"image {image!r} is not gridwatch:{version} (pyproject's version)")
        if not ours and (":" not in image or image.endswith(":latest")):
            report.add(where, f"image {image!r}: pin a tag (not latest)")
        if ours and str(svc.get("user", SERVICE_USER)) in ("root", "0"):
            report.add(where, "runs as root")
        mounts = _mounts(svc)
        for m in mounts:
            if m.named and m.source not in declared:
                report.add(where, f"volume {m.source} is not declared under volumes:")
            if not m.named:
                rel = os.path.normpath(m.source)
                if rel.split("/")[0] == SECRETS:
                    continue
                report.used.add(rel)
                if not (root / rel).exists():
                    report.add(where, f"bind mount {m.source}: no such file in the tree")
            elif ours and not m.read_only and not any(_under(m.target, o) for o in img.owned):
                report.add(where, f"volume at {m.target} is not a folder the user owns")
        env = {
            str(k): _interpolate(str(v), where, report, set(example))
            for k, v in (svc.get("environment") or {}).items()
        }
        for k, v in (svc.get("environment") or {}).items():
            inline = re.match(r"postgresql://[^:/@]+:([^@]+)@", str(v))
            if (_secret_name(str(k)) or inline) and not _VAR.search(str(v)):
                report.add(where, f"{k} is written in the file: secrets come from .env")
        for dep, cond in _depends(svc).items():
            if dep not in services:
                report.add(where, f"depends on {dep}, which is no service")
            elif cond == "service_healthy" and "healthcheck" not in services[dep]:
                report.add(where, f"waits for {dep} to be healthy, which has no healthcheck")
        long_running = "setup" not in svc.get("profiles", [])
        if long_running and "healthcheck" not in svc:
            report.add(where, "has no healthcheck")
        if not ours:
            continue
        settings = check_settings(where, {**img.env, **env}, report)
        for dsn_key in ("GRIDWATCH_DATABASE_URL", "GRIDWATCH_MIGRATE_DATABASE_URL"):
            host = _dsn_host(env.get(dsn_key, ""))
            if host is not None and host not in services:
                report.add(where, f"{dsn_key} names host {host!r}, which is no service")
        mqtt_host = env.get("GRIDWATCH_MQTT_HOST")
        if mqtt_host is not None and mqtt_host not in services:
            report.add(where, f"GRIDWATCH_MQTT_HOST={mqtt_host!r} is no service")
        argv = shlex.split(svc["command"]) if isinstance(svc["command"], str) else svc["command"]
        if argv[:1] != ["gridwatch"]:
            report.add(where, f"command {argv[:1]} is not the gridwatch CLI")
            continue
        ns = parse_command(where, argv[1:], report)
        if ns is None or settings is None:
            continue
        _check_role(where, ns, env, settings, OWNER_ROLE, report)
        # broker config's TLS files are paths of the broker's container: written into
        # its mosquitto.conf, read there.
        tls = {ns.cafile, ns.certfile, ns.keyfile} if ns.command == "broker" else set()
        for p in _path_args(ns):
            if p in tls:
                _check_image_path(
                    where, PurePosixPath(p), img, _mounts(services.get("mqtt", {})), root, report
                )
            else:
                _check_image_path(where, PurePosixPath(p), img, mounts, root, report)
        if ns.command == "broker":
            vol = next((m.source for m in mounts if m.target == PurePosixPath(ns.out)), None)
            if vol is None:
                report.add(where, f"--out {ns.out} is not a volume")
            else:
                outs["broker"] = (vol, PurePosixPath(ns.out), int(ns.tls_port))
        if ns.command == "gateway" and not ns.no_api:
            if settings.default_secret:
                report.add(where, "GRIDWATCH_JWT_SECRET is the development default")
            _check_port(where, svc, settings.http_port, "/health", report)
            replicas = int(svc.get("deploy", {}).get("replicas", 1))
            if replicas < 2:
                report.add(where, f"{replicas} replica(s); the shared subscription wants 2")
        if ns.command in ("dispatch", "deliver"):
            if settings.metrics_port is None:
                report.add(where, "no GRIDWATCH_METRICS_PORT: nothing for its healthcheck")
            else:
                _check_port(where, svc, settings.metrics_port, "/metrics", report)
        if ns.command == "edge" and ns.config is not None:
            edge_yaml = img.tree_path(PurePosixPath(ns.config))
            if edge_yaml is not None and (root / edge_yaml).is_file():
                _check_edge_compose(where, root / edge_yaml, svc, mounts, img, report)
    _check_broker(root, services, outs, report)


def _depends(svc: Mapping[str, Any]) -> dict[str, str | None]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: None for d in deps}
    return {k: (v or {}).get("condition") for k, v in deps.items()}


def _check_role(
    where: str, ns: Any, env: Mapping[str, str], settings: Any, owner: str, report: Report
) -> None:
    if ns.command == "db" and ns.db_command == "migrate":
        dsn = settings.migrate_database_url or ""
        if _dsn_user(dsn) != owner:
            report.add(where, f"migrates as {_dsn_user(dsn)!r}, not the owner role {owner!r}")
    elif "GRIDWATCH_DATABASE_URL" in env and _dsn_user(settings.database_url) != (
        settings.service_role
    ):
        report.add(
            where,
            f"connects as {_dsn_user(settings.database_url)!r}, not the service role "
            f"{settings.service_role!r}",
        )


def _check_port(where: str, svc: Mapping[str, Any], port: int, path: str, report: Report) -> None:
    url = _healthcheck_url(svc)
    if url != (port, path):
        report.add(where, f"healthcheck asks {url}, the process serves {path} on {port}")
    for spec in svc.get("ports", []):
        inner = int(str(spec).rsplit(":", 1)[-1])
        if inner != port:
            report.add(where, f"publishes container port {inner}; the process listens on {port}")


def _check_image_path(
    where: str,
    path: PurePosixPath,
    img: Image,
    mounts: list[Mount],
    root: Path,
    report: Report,
) -> None:
    for m in mounts:
        if _under(path, m.target):
            return
    _in_tree(where, path, img.tree_path(path), "neither in the image nor on a volume", root, report)


def _in_tree(
    where: str, path: object, rel: str | None, unmapped: str, root: Path, report: Report
) -> bool:
    """Whether deployed ``path``, at ``rel`` in the tree (None: nowhere), exists there."""
    if rel is None:
        report.add(where, f"{path} is {unmapped}")
        return False
    report.used.add(rel)
    if not (root / rel).exists():
        report.add(where, f"{path} is {rel} in the tree, which does not exist")
        return False
    return True


def _check_edge_compose(
    where: str, path: Path, svc: Mapping[str, Any], mounts: list[Mount], img: Image, r: Report
) -> None:
    cfg = _check_edge_config(where, path, r)
    if cfg is None:
        return
    for label, p in (("state_dir", cfg.state_dir), ("snapshot_dir", cfg.snapshot_dir)):
        ok = p is not None and any(
            _under(PurePosixPath(p), m.target) and not m.read_only and m.named for m in mounts
        )
        if not ok:
            r.add(where, f"edge {label} {p} is not on a writable volume")
    if cfg.mqtt.credentials_file is not None and not any(
        _under(PurePosixPath(cfg.mqtt.credentials_file), m.target) for m in mounts
    ):
        r.add(where, f"edge credentials_file {cfg.mqtt.credentials_file} is not mounted")
    if cfg.metrics_port is None:
        r.add(where, "the edge config has no metrics_port for the healthcheck")
    else:
        _check_port(where, svc, cfg.metrics_port, "/metrics", r)


def _check_edge_config(where: str, path: Path, report: Report) -> Any:
    """The edge config loads, and its cameras are devices.yaml's beside it, same streams."""
    from edge.config import EdgeConfigError, load_edge_config
    from gridwatch.town.load import DEVICES_FILE

    try:
        cfg = load_edge_config(path)
    except EdgeConfigError as exc:
        report.add(where, str(exc))
        return None
    registry = path.parent / DEVICES_FILE
    report.used.add(str(Path(path.parent.name) / DEVICES_FILE))
    if not registry.is_file():
        report.add(where, f"{registry}: no device registry beside the edge config")
        return cfg
    devices = {d.get("id"): d for d in yaml.load(registry.read_text(), Loader=_LOADER)["devices"]}
    for cam in cfg.cameras:
        dev = devices.get(cam.id)
        if dev is None or dev.get("kind") != "camera":
            report.add(where, f"edge camera {cam.id} is not a camera of {DEVICES_FILE}")
        elif (dev.get("stream"), dev.get("substream")) != (cam.stream, cam.substream):
            report.add(where, f"edge camera {cam.id}: its streams differ from {DEVICES_FILE}")
    return cfg


def _check_broker(
    root: Path,
    services: Mapping[str, Any],
    outs: Mapping[str, tuple[str, PurePosixPath, int]],
    report: Report,
) -> None:
    """The brokers read the files broker config writes, where it writes them."""
    from gridwatch.commands.broker import EMQX_ACL_FILE

    if "broker" not in outs:
        report.add(COMPOSE, "no service runs `gridwatch broker config`")
        return
    vol, out, port = outs["broker"]
    for name in ("mqtt", "emqx"):
        svc = services.get(name)
        where = f"{COMPOSE} service {name}"
        if svc is None:
            report.add(COMPOSE, f"no {name} service")
            continue
        if not any(m.source == vol and m.target == out for m in _mounts(svc)):
            report.add(where, f"does not mount {vol} at {out}, where broker config writes")
        text = yaml.safe_dump(svc)
        wanted = (
            [f"{out}/mosquitto.conf", f"{out}/passwd"]
            if name == "mqtt"
            else [f"{out}/{EMQX_ACL_FILE}"]
        )
        for f in wanted:
            if f not in text:
                report.add(where, f"does not use {f}")
        if f"{port}:{port}" not in [str(p) for p in svc.get("ports", [])]:
            report.add(where, f"does not publish the TLS port {port} (broker config --tls-port)")
        health = str(svc.get("healthcheck", {}).get("test", ""))
        if name == "mqtt" and f"-p {port} " not in health:
            report.add(where, f"its healthcheck does not ask the TLS port {port}")


# ---------------------------------------------------------------- systemd


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections; a key given twice keeps both values."""
    out: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
            continue
        k, _, v = line.partition("=")
        section.setdefault(k.strip(), []).append(v.strip())
    return out


def _install_map(root: Path, report: Report) -> dict[PurePosixPath, str]:
    """Installed path -> tree path, from the README's ``cp -r SRC DEST`` lines."""
    report.used.add(SYSTEMD_README)
    text = (root / SYSTEMD_README).read_text()
    return {PurePosixPath(d): s for s, d in re.findall(r"cp -r (\S+) (/\S+)", text)}


def check_systemd(root: Path, report: Report) -> None:
    folder = root / SYSTEMD
    units = {p.name: p for p in sorted(folder.iterdir()) if p.suffix in UNIT_SUFFIXES}
    installed = _install_map(root, report)
    readme = (root / SYSTEMD_README).read_text()
    ports: dict[int, str] = {}
    for name, path in units.items():
        report.used.add(f"{SYSTEMD}/{name}")
        unit = parse_unit(path.read_text())
        where = f"{SYSTEMD}/{name}"
        for key in ("Requires", "After", "Wants", "PartOf", "WantedBy"):
            for value in unit.get("Unit", {}).get(key, []) + unit.get("Install", {}).get(key, []):
                for dep in value.split():
                    if dep.startswith("gridwatch") and dep not in units:
                        report.add(where, f"{key}={dep}: no such unit in {SYSTEMD}")
        if path.suffix == ".timer" and path.with_suffix(".service").name not in units:
            report.add(where, f"starts {path.with_suffix('.service').name}, which is not here")
        if path.suffix != ".service":
            continue
        svc = unit.get("Service", {})
        if svc.get("User") != [SERVICE_USER]:
            report.add(where, f"User={svc.get('User')}, not {SERVICE_USER}")
        oneshot = svc.get("Type") == ["oneshot"]
        if not oneshot and not svc.get("Restart"):
            report.add(where, "no Restart=")
        if svc.get("StateDirectory") != ["gridwatch"]:
            report.add(where, "no StateDirectory=gridwatch: it may write nowhere")
        env: dict[str, str] = {}
        for ef in svc.get("EnvironmentFile", []):
            example = f"{SYSTEMD}/env/{PurePosixPath(ef).name}.example"
            if not (root / example).is_file():
                report.add(where, f"EnvironmentFile={ef} has no {example}")
                continue
            env.update(_env_example(root, example, report))
        for item in svc.get("Environment", []):
            k, _, v = item.partition("=")
            env[k] = v
        env = {k: (v or _placeholder(k)).replace("PASSWORD", "pw") for k, v in env.items()}
        settings = check_settings(where, env, report)
        execs = svc.get("ExecStart", [])
        if len(execs) != 1:
            report.add(where, f"{len(execs)} ExecStart lines, want 1")
            continue
        argv = shlex.split(execs[0].replace("%i", "1").replace("%H", "host"))
        if not argv[0].endswith("/bin/gridwatch"):
            report.add(where, f"ExecStart {argv[0]} is not the gridwatch CLI")
            continue
        ns = parse_command(where, argv[1:], report)
        if ns is None or settings is None:
            continue
        if ns.command == "db":
            from gateway.db.migrate import OWNER_ROLE

            if not oneshot:
                report.add(where, "the migration must be Type=oneshot")
            _check_role(where, ns, env, settings, OWNER_ROLE, report)
            continue
        _check_role(where, ns, env, settings, "", report)
        if ns.command in ("gateway", "dispatch", "deliver"):
            needs = unit.get("Unit", {})
            for key in ("Requires", "After"):
                if "gridwatch-migrate.service" not in " ".join(needs.get(key, [])):
                    report.add(where, f"{key}= lacks gridwatch-migrate.service")
        if ns.command == "gateway" and settings.default_secret:
            report.add(where, "GRIDWATCH_JWT_SECRET would be the development default")
        if ns.command == "gateway" and name.endswith("@.service") and not settings.http_reuse_port:
            report.add(where, "several instances need GRIDWATCH_HTTP_REUSE_PORT")
        port = settings.http_port if ns.command == "gateway" else settings.metrics_port
        for p in _path_args(ns):
            rel = next(
                (
                    f"{src}/{PurePosixPath(p).relative_to(dest)}"
                    for dest, src in installed.items()
                    if _under(PurePosixPath(p), dest)
                ),
                None,
            )
            found = _in_tree(where, p, rel, "not a path the README installs", root, report)
            if found and rel is not None and ns.command == "edge":
                cfg = _check_edge_config(where, root / rel, report)
                if cfg is not None:
                    port = cfg.metrics_port
                    for label, d in (
                        ("state_dir", cfg.state_dir),
                        ("snapshot_dir", cfg.snapshot_dir),
                    ):
                        if d is None or not _under(
                            PurePosixPath(d), PurePosixPath("/var/lib/gridwatch")
                        ):
                            report.add(where, f"edge {label} {d} is outside StateDirectory")
                    cred = cfg.mqtt.credentials_file
                    if cred is not None and str(cred) not in readme:
                        report.add(where, f"edge credentials_file {cred}: the README never says")
        if port is not None:
            if port in ports:
                report.add(where, f"port {port} is also {ports[port]}'s")
            ports[port] = name


INIT_ROLES = "deploy/db/init-roles.sh"


def check_init_roles(root: Path, report: Report) -> None:
    """init-roles.sh creates, by default, the roles the migrator and the settings name."""
    from gateway.db.migrate import API_ROLE, OWNER_ROLE
    from gridwatch.settings import Settings

    path = root / INIT_ROLES
    if not path.is_file():
        report.add(INIT_ROLES, "no such file: nothing creates the login roles")
        return
    report.used.add(INIT_ROLES)
    text = path.read_text()
    wanted = {
        "GRIDWATCH_OWNER_ROLE": OWNER_ROLE,
        "GRIDWATCH_SERVICE_ROLE": Settings.model_fields["service_role"].default,
        "GRIDWATCH_API_ROLE": API_ROLE,
    }
    for var, role in wanted.items():
        if f"${{{var}:-{role}}}" not in text:
            report.add(INIT_ROLES, f"does not default {var} to {role!r}, the project's name")


def check_tree(root: Path) -> Report:
    """Every problem of the deployment files under ``root``."""
    report = Report()
    check_init_roles(root, report)
    img = check_dockerfile(root, report)
    check_compose(root, img, report)
    check_systemd(root, report)
    ignored = (root / ".gitignore").read_text().split() if (root / ".gitignore").exists() else []
    report.used.add(".gitignore")
    if f"/{SECRETS}/" not in ignored:
        report.add(".gitignore", f"/{SECRETS}/ (TLS keys) is not ignored")
    return report


@contextlib.contextmanager
def role_split_db(admin_dsn: str, root: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A new database with deploy/db/init-roles.sh's login roles, under names of this
    test (roles are the whole cluster's): yields its DSN and real name -> test name.
    The database goes first, then the roles."""
    import subprocess
    import uuid

    import psycopg

    from gridwatch.services import scratch_database

    tag = uuid.uuid4().hex[:8]
    roles = {
        r: f"t{tag}_{r.split('_')[1]}"
        for r in ("gridwatch_owner", "gridwatch_app", "gridwatch_api")
    }
    try:
        with scratch_database(admin_dsn, f"gwtest_roles_{tag}") as dsn:
            info = psycopg.conninfo.conninfo_to_dict(dsn)
            env = {
                **os.environ,
                "PGHOST": str(info.get("host", "127.0.0.1")),
                "PGPORT": str(info.get("port", "5432")),
                "POSTGRES_USER": str(info.get("user", "postgres")),
                "POSTGRES_DB": str(info["dbname"]),
                "GRIDWATCH_OWNER_ROLE": roles["gridwatch_owner"],
                "GRIDWATCH_SERVICE_ROLE": roles["gridwatch_app"],
                "GRIDWATCH_API_ROLE": roles["gridwatch_api"],
                "GRIDWATCH_OWNER_DB_PASSWORD": uuid.uuid4().hex,
                "GRIDWATCH_APP_DB_PASSWORD": uuid.uuid4().hex,
            }
            script = root / "deploy/db/init-roles.sh"
            subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True)
            yield dsn, roles
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            for role in roles.values():
                conn.execute(f"DROP ROLE IF EXISTS {role}")
