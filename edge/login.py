"""How each camera of a box logs in to the broker: user name, password and TLS files.

With ``mqtt.credentials_file`` every camera is its own MQTT user (its device id),
as the broker's ACL expects; otherwise all share the one configured login.
"""

from __future__ import annotations

from pathlib import Path

from edge.config import EdgeConfig, EdgeConfigError
from gridwatch.mqtt_tls import MqttTls
from gridwatch.settings import Settings

Login = tuple[str | None, str | None]


def load_credentials(path: Path, camera_ids: list[str]) -> dict[str, str]:
    """Each camera's MQTT password from ``path`` (YAML: device id -> password)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise EdgeConfigError(f"mqtt.credentials_file {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise EdgeConfigError(
            f"mqtt.credentials_file {str(path)!r}: expected a mapping of device id to password"
        )
    missing = [c for c in camera_ids if not isinstance(data.get(c), str)]
    if missing:
        raise EdgeConfigError(
            f"mqtt.credentials_file {str(path)!r}: no password for camera(s) {missing}"
        )
    return {c: data[c] for c in camera_ids}


def camera_logins(cfg: EdgeConfig, settings: Settings) -> dict[str, Login]:
    """(user name, password) per device id: each camera and each sensor logs in as itself."""
    ids = [cam.id for cam in cfg.cameras] + [s.id for s in cfg.sensors]
    if cfg.mqtt.credentials_file is not None:
        passwords = load_credentials(cfg.mqtt.credentials_file, ids)
        return {c: (c, passwords[c]) for c in ids}
    if cfg.mqtt.username is not None:
        return dict.fromkeys(ids, (cfg.mqtt.username, cfg.mqtt.password or settings.mqtt_password))
    return dict.fromkeys(ids, (settings.mqtt_username, settings.mqtt_password))


def camera_tls(cfg: EdgeConfig, settings: Settings, camera_id: str) -> MqttTls | None:
    """The box's TLS files for one camera; a client certificate is the camera's own."""
    if cfg.mqtt.tls_ca is None:
        return settings.mqtt_tls
    d = cfg.mqtt.tls_cert_dir
    if d is None:
        return MqttTls(cfg.mqtt.tls_ca)
    return MqttTls(cfg.mqtt.tls_ca, d / f"{camera_id}.crt", d / f"{camera_id}.key")
