"""Process settings from ``GRIDWATCH_*`` environment variables.

Read through :func:`get_settings` at run time, never at import, so tests and
tools can set the environment first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridwatch.mqtt_tls import MqttTls

#: The secret a checkout ships with: good for tests, refused by ``gridwatch gateway``.
DEFAULT_JWT_SECRET = "gridwatch-development-secret-change-me"


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "gridwatch"


class Settings(BaseSettings):
    """Everything a gridwatch process reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", extra="ignore")

    tz: str = Field("Asia/Shanghai", description="Time zone for deadlines, rosters, reports")
    lang: str = Field("zh", pattern="^(zh|en)$", description="Language of text people read")
    config_dir: Path = Field(Path("config"), description="Folder with the town's config")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Models and footage")

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/gridwatch",
        description="PostgreSQL DSN the services use",
    )
    migrate_database_url: str | None = Field(
        None, description="DSN of the role that owns the tables; defaults to database_url"
    )
    service_role: str = Field("gridwatch_app", description="Role the services run as")

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_tls_ca: Path | None = Field(
        None, description="CA of the broker's certificate; set, the connection is TLS"
    )
    mqtt_tls_cert: Path | None = Field(None, description="Client certificate (CN = user name)")
    mqtt_tls_key: Path | None = Field(None, description="Key of the client certificate")
    mosquitto: str = Field(
        "mosquitto",
        min_length=1,
        description="Mosquitto binary the demo starts when no broker answers: a name looked"
        " up on PATH and in /usr/sbin (Debian's place for it), or a path",
    )
    topic_prefix: str = Field("gw", pattern=r"^[A-Za-z0-9_\-/]+$")
    share_group: str = Field("gridwatch", pattern=r"^[A-Za-z0-9_\-]+$")

    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    http_reuse_port: bool = Field(
        False,
        description="bind the HTTP port with SO_REUSEPORT, so that several gateway processes"
        " (e.g. `gridwatch gateway --no-ingest`, one per core) share it; the kernel spreads"
        " the connections",
    )
    http_send_buffer: int | None = Field(
        None,
        ge=4096,
        le=16 * 1024 * 1024,
        description="SO_SNDBUF in bytes of every HTTP connection (set on the listening socket,"
        " which accepted sockets inherit); unset: the kernel's auto-tuning, which can let a"
        " stalled live-channel client soak up megabytes before it is found too slow",
    )
    live_client_queue: int = Field(
        256,
        ge=8,
        le=100_000,
        description="Live-channel notifications waiting for one client at most: a client that"
        " falls this far behind is told and dropped",
    )

    model_path: Path | None = Field(None, description="ONNX detector file")
    snapshot_dir: Path | None = Field(
        None,
        description="Where the gateway stores evidence JPEGs by their SHA-256; "
        "default <cache_dir>/snapshots",
    )
    snapshot_store: Literal["file", "s3"] = Field(
        "file",
        description="Where evidence JPEGs go: files under GRIDWATCH_SNAPSHOT_DIR, or an"
        " S3-compatible bucket (GRIDWATCH_SNAPSHOT_S3_*; credentials as boto3 finds them)",
    )
    snapshot_s3_bucket: str | None = Field(
        None, min_length=3, max_length=63, description="The bucket, with snapshot_store=s3"
    )
    snapshot_s3_prefix: str = Field(
        "snapshots", max_length=200, description="Key prefix of the snapshots in the bucket"
    )
    snapshot_s3_endpoint: str | None = Field(
        None,
        pattern=r"^https?://",
        max_length=300,
        description="An S3-compatible endpoint (MinIO, Ceph); default AWS's",
    )
    snapshot_s3_region: str | None = Field(None, max_length=40, description="The region")

    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics of `gridwatch dispatch`, `gridwatch "
        "deliver` and `gridwatch gateway --no-api` (0: any free port, logged); unset: none",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the metrics server binds (0.0.0.0: every interface)"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or one JSON object per line (json)"
    )

    jwt_secret: SecretStr = Field(
        SecretStr(DEFAULT_JWT_SECRET),
        description="HS256 key that signs bearer tokens; the gateway refuses the default",
    )
    jwt_kid: str = Field("k1", pattern=r"^[A-Za-z0-9_.\-]{1,32}$", description="Its key id")
    jwt_old_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Retired keys (kid -> secret) still accepted, so keys rotate without "
        "logging everyone out; JSON in GRIDWATCH_JWT_OLD_KEYS",
    )
    webhook_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="HMAC-SHA256 keys that sign notice webhooks, by webhook name in "
        "channels.yaml; JSON in GRIDWATCH_WEBHOOK_SECRETS, never in git",
    )
    token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 86400, description="Bearer token life")
    jwt_issuer: str = Field("gridwatch", min_length=1, max_length=128)
    jwt_audience: str = Field("gridwatch-api", min_length=1, max_length=128)
    token_rate_per_min: int = Field(
        10, ge=1, le=10_000, description="Password attempts per client address and minute"
    )
    open311_public: bool = Field(
        False, description="Open311 submissions without an account (rate-limited per address)"
    )
    open311_public_read: bool = Field(
        False, description="Open311 GET requests without an api_key: residents' requests only"
    )
    open311_public_per_hour: int = Field(
        10, ge=1, le=10_000, description="Public Open311 submissions per client address per hour"
    )

    @field_validator("tz")
    @classmethod
    def _known_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"GRIDWATCH_TZ={value!r} is not an IANA time zone") from exc
        return value

    @model_validator(mode="after")
    def _tls_complete(self) -> Settings:
        if self.snapshot_store == "s3" and self.snapshot_s3_bucket is None:
            raise ValueError("GRIDWATCH_SNAPSHOT_STORE=s3 needs GRIDWATCH_SNAPSHOT_S3_BUCKET")
        if (self.mqtt_tls_cert is None) != (self.mqtt_tls_key is None):
            raise ValueError("GRIDWATCH_MQTT_TLS_CERT and GRIDWATCH_MQTT_TLS_KEY go together")
        if self.mqtt_tls_cert is not None and self.mqtt_tls_ca is None:
            raise ValueError("GRIDWATCH_MQTT_TLS_CERT needs GRIDWATCH_MQTT_TLS_CA")
        return self

    @property
    def mqtt_tls(self) -> MqttTls | None:
        if self.mqtt_tls_ca is None:
            return None
        return MqttTls(self.mqtt_tls_ca, self.mqtt_tls_cert, self.mqtt_tls_key)

    @property
    def snapshot_root(self) -> Path:
        """The gateway's snapshot folder (GRIDWATCH_SNAPSHOT_DIR, else under the cache)."""
        return self.snapshot_dir or self.cache_dir / "snapshots"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def default_secret(self) -> bool:
        """The token key is the one the checkout ships with."""
        return self.jwt_secret.get_secret_value() == DEFAULT_JWT_SECRET


def get_settings(**overrides: object) -> Settings:
    """Read settings now; keyword arguments override the environment."""
    return Settings(**overrides)  # type: ignore[arg-type]
