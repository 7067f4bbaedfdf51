"""The edge box's YAML config: which cameras, which detector, where to publish.

Either written by hand (``gridwatch edge --config FILE``) or built from the town's
``devices.yaml`` (``gridwatch edge --town DIR --camera ID``). Stream URLs are
checked when each camera starts, not here, so one bad URL stops only its camera.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from detectors.config import BackendConfig, YoloxOnnxConfig
from detectors.privacy import PrivacyPolicy
from edge.sensor_config import SensorConfig, town_sensor
from gateway.contract import DEVICE_ID_PATTERN
from gridwatch.camera_objects import ObjectsConfig
from gridwatch.camera_rules import CameraRulesConfig, RuleConfig, ZoneConfig
from gridwatch.town.models import HomographyPoints


class EdgeConfigError(Exception):
    """An edge config that cannot be used; the message names the file, path and value."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MqttConfig(_Config):
    host: str | None = Field(None, description="Broker host; default GRIDWATCH_MQTT_HOST")
    port: int | None = Field(None, ge=1, le=65535, description="Default GRIDWATCH_MQTT_PORT")
    prefix: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_\-/]+$",
        description="Topic prefix; default GRIDWATCH_TOPIC_PREFIX",
    )
    username: str | None = Field(
        None, description="One login for every camera; default GRIDWATCH_MQTT_USERNAME"
    )
    password: str | None = None
    credentials_file: Path | None = Field(
        None,
        description="YAML of device id -> password (gridwatch broker config's "
        "credentials.yaml, or this box's part of it): each camera logs in as itself",
    )
    tls_ca: Path | None = Field(
        None, description="CA of the broker's certificate (TLS); default GRIDWATCH_MQTT_TLS_CA"
    )
    tls_cert_dir: Path | None = Field(
        None,
        description="Client certificates, <camera id>.crt and .key, each with the camera id "
        "as CN (the broker's certificate listener); needs tls_ca",
    )
    client_id_suffix: str = Field(
        "",
        max_length=40,
        pattern=r"^[A-Za-z0-9_\-.]*$",
        description="Appended to the device id to form the MQTT client id. The broker's "
        "ACLs match the user name (%u), not the client id, so production may set it too; "
        "set it when several runs share a broker, since a second client with the same id "
        "disconnects the first",
    )
    keepalive_s: int = Field(30, ge=5, le=3600)
    max_inflight: int = Field(100, ge=1, le=10000, description="Unacknowledged QoS 1 messages")

    @model_validator(mode="after")
    def _one_login(self) -> MqttConfig:
        if self.credentials_file is not None and self.username is not None:
            raise ValueError(
                f"mqtt.credentials_file {str(self.credentials_file)!r} and mqtt.username "
                f"{self.username!r}: give one (per-camera passwords or one shared login)"
            )
        if self.tls_cert_dir is not None and self.tls_ca is None:
            raise ValueError("mqtt.tls_cert_dir needs mqtt.tls_ca")
        return self


class DetectorConfig(_Config):
    backend: BackendConfig = Field(
        default_factory=lambda: YoloxOnnxConfig.model_validate({}),
        description="The back-end and its options, by type (detectors.config.BackendConfig)",
    )
    workers: int | None = Field(
        None, ge=1, le=32, description="Detector calls running at once; default: CPU cores"
    )
    motion_gating: bool = Field(
        True, description="Run the detector only on regions MOG2 saw move (plus full passes)"
    )
    full_frame_every_s: float = Field(
        2.0, gt=0, le=3600, description="Whole-frame pass so still objects are kept"
    )

    @model_validator(mode="before")
    @classmethod
    def _name_and_options(cls, data: Any) -> Any:
        """The older ``name: X`` plus ``options: {...}`` means ``backend: {type: X, ...}``."""
        if not isinstance(data, dict) or not {"name", "options"} & set(data):
            return data
        if "backend" in data:
            raise ValueError("give backend, or name and options, not both")
        rest = {k: v for k, v in data.items() if k not in ("name", "options")}
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ValueError(f"options {options!r} must be a mapping of back-end options")
        return {**rest, "backend": {**options, "type": data.get("name", "yolox_onnx")}}


class OutboxConfig(_Config):
    max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=64 * 1024,
        description="Cap on stored items plus their snapshot files; then readings, then the "
        "oldest events are dropped and counted",
    )
    synchronous: Literal["NORMAL", "FULL"] = Field(
        "FULL", description="SQLite synchronous mode; FULL also survives a power cut"
    )
    window: int = Field(
        1000, ge=1, le=100_000, description="Items sent and not yet committed by the gateway"
    )
    batch_items: int = Field(200, ge=1, le=1000, description="Items per Batch message at most")
    resend_after_s: float = Field(
        10.0, gt=0, le=3600, description="Replay from the gateway's mark when it stalls this long"
    )


class PrivacyConfig(_Config):
    """Blurring of faces and plates in this camera's snapshots (on by default)."""

    blur_faces: bool = Field(True, description="Blur faces and the heads of person boxes")
    blur_plates: bool = Field(True, description="Blur plates and the plate band of vehicles")
    authorised_by: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Reference of the decision that authorises keeping faces or plates "
        "(e.g. a public-security order number); required to switch blurring off",
    )

    @model_validator(mode="after")
    def _authorised(self) -> PrivacyConfig:
        if not (self.blur_faces and self.blur_plates) and self.authorised_by is None:
            raise ValueError(
                f"privacy: blur_faces={self.blur_faces}, blur_plates={self.blur_plates} "
                "switches blurring off, which needs privacy.authorised_by"
            )
        return self

    def policy(self) -> PrivacyPolicy:
        return PrivacyPolicy(faces=self.blur_faces, plates=self.blur_plates)


class CameraConfig(_Config):
    id: str = Field(pattern=DEVICE_ID_PATTERN, description="Device id: the MQTT client id too")
    stream: str = Field(min_length=1, description="rtsp://, http(s)://, file://, usb://N, asset://")
    substream: str | None = Field(None, description="Low-resolution stream to detect on")
    detect_fps: float = Field(5.0, gt=0, le=30)
    start_offset_s: float = Field(0.0, ge=0, description="Files only: where the replay starts")
    zones: list[ZoneConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    objects: ObjectsConfig = Field(default_factory=lambda: ObjectsConfig.model_validate({}))
    homography: HomographyPoints | None = None
    privacy: PrivacyConfig = Field(default_factory=lambda: PrivacyConfig.model_validate({}))

    @model_validator(mode="after")
    def _rules_fit(self) -> CameraConfig:
        self.rules_config()
        return self

    def rules_config(self) -> CameraRulesConfig:
        # The tracker behind the rules is tuned to the rate frames actually reach it.
        return CameraRulesConfig(
            zones=self.zones,
            rules=self.rules,
            objects=self.objects,
            has_homography=self.homography is not None,
            frame_rate=self.detect_fps,
        )

    @property
    def detect_stream(self) -> tuple[str, str]:
        """(field name, URL) of the stream the detector reads."""
        return ("substream", self.substream) if self.substream else ("stream", self.stream)


class EdgeConfig(_Config):
    box_id: str = Field(pattern=DEVICE_ID_PATTERN, description="This edge box")
    mqtt: MqttConfig = Field(default_factory=lambda: MqttConfig.model_validate({}))
    snapshot_dir: Path = Field(description="Where evidence JPEGs are written")
    state_dir: Path | None = Field(
        None, description="Sequence counters; default <cache_dir>/edge/<box_id>"
    )
    detector: DetectorConfig = Field(default_factory=lambda: DetectorConfig.model_validate({}))
    status_interval_s: float = Field(10.0, ge=0.2, le=3600)
    outbox: OutboxConfig = Field(default_factory=lambda: OutboxConfig.model_validate({}))
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus metrics on this port (0: any free port)"
    )
    cameras: list[CameraConfig] = Field(default_factory=list)
    sensors: list[SensorConfig] = Field(
        default_factory=list, description="Sensors read by this box, each its own device"
    )

    @model_validator(mode="after")
    def _unique_cameras(self) -> EdgeConfig:
        if not self.cameras and not self.sensors:
            raise ValueError("an edge box needs at least one camera or sensor")
        ids = [c.id for c in self.cameras] + [s.id for s in self.sensors]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"device ids {dupes} are used more than once (cameras and sensors)")
        return self


def format_errors(exc: ValidationError, source: str, data: Any = None) -> str:
    """Every error on its own line: file, path (with the camera id where known), value."""
    lines = [f"{source}: {exc.error_count()} error(s) in the edge config"]
    for err in exc.errors():
        loc = list(err["loc"])
        path = ""
        for i, part in enumerate(loc):
            if isinstance(part, int):
                path += f"[{part}]"
                if i > 0 and loc[i - 1] == "cameras" and isinstance(data, dict):
                    cams = data.get("cameras")
                    if isinstance(cams, list) and part < len(cams) and isinstance(cams[part], dict):
                        path += f" (camera {cams[part].get('id', '?')})"
            else:
                path += f".{part}" if path else str(part)
        value = repr(err.get("input"))[:80]
        lines.append(f"  {path or '(root)'} = {value}: {err['msg']}")
    return "\n".join(lines)


def parse_edge_config(data: Any, source: str = "<edge config>") -> EdgeConfig:
    try:
        return EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise EdgeConfigError(format_errors(exc, source, data)) from exc


def load_edge_config(path: Path | str) -> EdgeConfig:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EdgeConfigError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise EdgeConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_edge_config(data, str(path))


def config_from_town(
    town_dir: Path | str,
    camera_ids: list[str],
    *,
    box_id: str | None = None,
    snapshot_dir: Path | None = None,
    start_offsets: Mapping[str, float] | None = None,
    sensor_sources: Mapping[str, dict[str, Any]] | None = None,
    **overrides: Any,
) -> EdgeConfig:
    """Build an edge config for some cameras and sensors of the town's ``devices.yaml``.

    ``start_offsets`` (camera id -> seconds) starts file replays at different points,
    so several cameras replaying one clip do not show the same frame.
    ``sensor_sources`` (sensor id -> source config) says where a sensor's values come
    from; a sensor without one is simulated (edge/sensor_config.py DEMO_SOURCES).
    """
    from gridwatch.settings import get_settings
    from gridwatch.town import load_town

    town = load_town(Path(town_dir))
    cams = []
    sensors = []
    for cid in camera_ids:
        dev = town.devices.get(cid)
        if dev is None:
            raise EdgeConfigError(f"{town_dir}: device {cid!r} is not in devices.yaml")
        if dev.kind == "sensor" and dev.sensor_type is not None:
            source = (sensor_sources or {}).get(cid)
            sensors.append(town_sensor(dev.id, dev.sensor_type, dev.category, source))
            continue
        if dev.kind != "camera" or dev.stream is None:
            raise EdgeConfigError(f"{town_dir}: device {cid!r} is a {dev.kind}, not a camera")
        cams.append(
            {
                "id": dev.id,
                "stream": dev.stream,
                "substream": dev.substream,
                "detect_fps": dev.detect_fps,
                "start_offset_s": (start_offsets or {}).get(cid, 0.0),
                "zones": dev.zones,
                "rules": dev.rules,
                "objects": dev.objects,
                "homography": dev.homography,
            }
        )
    if not camera_ids:
        raise EdgeConfigError(f"{town_dir}: name at least one camera or sensor")
    box = box_id or f"edge-{camera_ids[0]}"
    data: dict[str, Any] = {
        "box_id": box,
        "snapshot_dir": snapshot_dir or Path(get_settings().cache_dir) / "snapshots",
        "cameras": cams,
        "sensors": sensors,
        **overrides,
    }
    return parse_edge_config(data, f"{town_dir} (cameras {', '.join(camera_ids)})")
