"""Process settings from ``GRIDWATCH_*`` environment variables.

Read through :func:`get_settings` at run time, never at import, so tests and
tools can set the environment first.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    topic_prefix: str = Field("gw", pattern=r"^[A-Za-z0-9_\-/]+$")
    share_group: str = Field("gridwatch", pattern=r"^[A-Za-z0-9_\-]+$")

    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)

    model_path: Path | None = Field(None, description="ONNX detector file")

    open311_public_submit: bool = Field(
        False, description="Open311 POST requests without an api_key (rate-limited per address)"
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

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


def get_settings(**overrides: object) -> Settings:
    """Read settings now; keyword arguments override the environment."""
    return Settings(**overrides)  # type: ignore[arg-type]
