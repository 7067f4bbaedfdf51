"""`gridwatch broker config`: Mosquitto password, ACL and listener files from the town's devices."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gridwatch.commands import Subparsers

#: The plain-text passwords, for provisioning boxes and services; owner-only.
CREDENTIALS_FILE = "credentials.yaml"
#: The same rights for EMQX's file authorizer (docs/deployment.md).
EMQX_ACL_FILE = "emqx-acl.conf"
_CONFIG_HELP = (
    "write passwd, acl, mosquitto.conf, emqx-acl.conf and credentials.yaml (mode 0600) for "
    "every device of the town and the service accounts; existing passwords are kept"
)


def register(sub: Subparsers) -> None:
    actions = sub.add_parser("broker", help="MQTT broker security (Mosquitto)").add_subparsers(
        dest="broker_command", required=True, metavar="ACTION"
    )
    c = actions.add_parser("config", help=_CONFIG_HELP)
    c.add_argument("--out", type=Path, required=True, help="folder to write")
    c.add_argument("--town", type=Path, default=None, help="config folder; GRIDWATCH_CONFIG_DIR")
    c.add_argument("--prefix", default=None, help="topic prefix; GRIDWATCH_TOPIC_PREFIX")
    c.add_argument(
        "--rotate",
        nargs="*",
        metavar="USER",
        default=None,
        help="new passwords for these users (device ids or service accounts); all when "
        "none is named",
    )
    c.add_argument("--tls-port", type=int, default=8883, help="TLS with passwords; 0: none")
    c.add_argument(
        "--mtls-port",
        type=int,
        default=0,
        help="TLS with client certificates, CN = device id; 0 (default): none",
    )
    c.add_argument(
        "--plain-port", type=int, default=0, help="plain MQTT on 127.0.0.1 only; 0 (default): none"
    )
    c.add_argument("--bind", default="0.0.0.0", help="address of the TLS listeners")
    c.add_argument(
        "--broker-user",
        default="mosquitto",
        help="run as root, give passwd to this system user (Mosquitto drops root before "
        "it reads the file); default mosquitto",
    )
    for name in ("cafile", "certfile", "keyfile"):
        c.add_argument(f"--{name}", type=Path, default=None, help=f"default OUT/tls/{name}")
    c.set_defaults(handler=_config)


def _config(args: argparse.Namespace) -> int:
    from gridwatch import broker
    from gridwatch.settings import get_settings
    from gridwatch.town.errors import TownError
    from gridwatch.town.load import load_town

    settings = get_settings()
    town_dir = args.town or settings.config_dir
    prefix = args.prefix or settings.topic_prefix
    out: Path = args.out.resolve()
    try:
        town = load_town(town_dir)
        devices = broker.check_users(town.devices)
    except (TownError, broker.BrokerConfigError) as exc:
        print(f"{town_dir}: {exc}", file=sys.stderr)
        return 2
    cred_path = out / CREDENTIALS_FILE
    existing = _read_credentials(cred_path)
    if existing is None:
        return 2
    users = [*broker.SERVICE_USERS, *devices]
    rotate = users if args.rotate == [] else (args.rotate or [])
    unknown = sorted(set(rotate) - set(users))
    if unknown:
        print(f"--rotate: {unknown} are not devices of {town_dir} or services", file=sys.stderr)
        return 2
    defaults = broker.Listeners()
    listeners = broker.Listeners(
        tls_port=args.tls_port,
        mtls_port=args.mtls_port,
        plain_port=args.plain_port,
        bind=args.bind,
        cafile=args.cafile or defaults.cafile,
        certfile=args.certfile or defaults.certfile,
        keyfile=args.keyfile or defaults.keyfile,
    )
    try:
        conf = broker.mosquitto_conf_text(out, listeners, broker.Limits())
    except broker.BrokerConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    creds = broker.merge_credentials(existing, users, rotate)
    out.mkdir(parents=True, exist_ok=True)
    _write_private(cred_path, _credentials_yaml(creds))
    _write_private(out / "passwd", broker.passwd_text(creds))
    _give_to_broker(out / "passwd", args.broker_user)
    (out / "acl").write_text(broker.acl_text(prefix))
    (out / EMQX_ACL_FILE).write_text(broker.emqx_acl_text(prefix))
    (out / "mosquitto.conf").write_text(conf)
    kept = sum(1 for u in users if u in existing and u not in rotate)
    print(
        f"{out}: {len(devices)} devices, {len(broker.SERVICE_USERS)} services; "
        f"{kept} passwords kept, {len(users) - kept} new"
    )
    return 0


def _read_credentials(path: Path) -> dict[str, str] | None:
    import yaml

    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        print(f"{path}: not YAML: {exc}", file=sys.stderr)
        return None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        print(f"{path}: expected a mapping of user name to password", file=sys.stderr)
        return None
    return data


def _credentials_yaml(creds: dict[str, str]) -> str:
    import yaml

    head = "# MQTT passwords by user name (device id or service). Owner-only; never in git.\n"
    return head + yaml.safe_dump(dict(sorted(creds.items())), default_flow_style=False)


def _give_to_broker(path: Path, user: str) -> None:
    """Run as root, hand ``path`` to the broker's user: Mosquitto started as root drops
    to that user before it opens the password file, and the file stays 0600."""
    import pwd

    if os.geteuid() != 0:
        return
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        print(f"--broker-user {user!r}: no such user; {path} stays root's", file=sys.stderr)
        return
    os.chown(path, pw.pw_uid, pw.pw_gid)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file that is mode 0600 from its creation on."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
