"""``channels.yaml``: how each person is told, and how hard delivery tries.

Every person has the field app's MQTT topic unless ``mqtt.enabled`` or their own
entry turns it off; webhooks (the city platform, a messaging gateway) are named
once under ``webhooks`` and given to everyone (``default_webhooks``) or to some
people. Webhook secrets are never in this file: they come from the settings
(``GRIDWATCH_WEBHOOK_SECRETS``), checked when a worker starts. A missing file
means the defaults: the MQTT topic for everyone, no webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dispatch.delivery.retry import RetryPolicy
from dispatch.errors import ConfigError
from gateway.contract import DEVICE_ID_PATTERN, ContractError, notice_topic
from gridwatch.configfile import Problem, check_file

CHANNELS_FILE = "channels.yaml"
MQTT_CHANNEL = "mqtt"

WebhookName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
PersonId = Annotated[str, Field(pattern=r"^[^\s,]{1,64}$")]
Lang = Literal["zh", "en"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySpec(_Config):
    max_attempts: int = Field(8, ge=1, le=50, description="Attempts before a notice fails")
    first_delay_s: float = Field(10.0, gt=0, le=3600, description="Wait after the 1st failure")
    factor: float = Field(2.0, ge=1.0, le=10.0, description="Each wait is this times the last")
    max_delay_s: float = Field(900.0, gt=0, le=86_400, description="Longest wait")
    jitter: float = Field(0.5, ge=0.0, le=1.0, description="Share of a wait taken at random")
    lease_s: float = Field(
        60.0, gt=0, le=3600, description="A claimed notice returns to the queue after this"
    )

    @model_validator(mode="after")
    def _ordered(self) -> RetrySpec:
        if self.max_delay_s < self.first_delay_s:
            raise ValueError(
                f"max_delay_s={self.max_delay_s} is below first_delay_s={self.first_delay_s}"
            )
        return self

    def policy(self) -> RetryPolicy:
        return RetryPolicy(**self.model_dump())


class MqttSpec(_Config):
    enabled: bool = Field(True, description="Every person's field-app topic, unless they opt out")
    timeout_s: float = Field(10.0, gt=0, le=120, description="Wait for the broker's PUBACK")


class WebhookSpec(_Config):
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000, description="POST target")
    timeout_s: float = Field(10.0, gt=0, le=120, description="Wait for the answer")


class PersonChannels(_Config):
    mqtt: bool | None = Field(None, description="Override mqtt.enabled for this person")
    webhooks: list[WebhookName] | None = Field(
        None, description="This person's webhooks instead of default_webhooks"
    )
    lang: Lang | None = Field(None, description="Language shown first; GRIDWATCH_LANG if unset")


class ChannelsFile(_Config):
    """``channels.yaml``."""

    retry: RetrySpec = Field(default_factory=lambda: RetrySpec())
    mqtt: MqttSpec = Field(default_factory=lambda: MqttSpec())
    webhooks: dict[WebhookName, WebhookSpec] = Field(default_factory=dict)
    default_webhooks: list[WebhookName] = Field(default_factory=list)
    people: dict[PersonId, PersonChannels] = Field(default_factory=dict)

    # Field validators, not a model validator, so a problem names its key: webhooks is
    # declared first and is in info.data when these run.
    @field_validator("default_webhooks")
    @classmethod
    def _defaults_defined(cls, names: list[str], info: ValidationInfo) -> list[str]:
        _check_defined(names, info, "default_webhooks")
        return names

    @field_validator("people")
    @classmethod
    def _people_defined(
        cls, people: dict[str, PersonChannels], info: ValidationInfo
    ) -> dict[str, PersonChannels]:
        for person_id, own in people.items():
            _check_defined(own.webhooks or [], info, f"people.{person_id}.webhooks")
        return people


def _check_defined(names: list[str], info: ValidationInfo, where: str) -> None:
    defined = info.data.get("webhooks")
    if defined is None:  # webhooks itself was invalid and is reported already
        return
    for name in names:
        if name not in defined:
            raise ValueError(
                f"{where}: webhook {name!r} is not defined under webhooks"
                f" (defined: {sorted(defined)})"
            )


@dataclass(frozen=True, slots=True)
class Channel:
    """One way to reach one person."""

    name: str  # 'mqtt' or 'webhook:<name>'
    kind: Literal["mqtt", "webhook"]
    target: str  # the topic or the URL
    timeout_s: float
    webhook: str | None = None  # the webhook's name, which keys its secret


@dataclass(frozen=True)
class Channels:
    """``channels.yaml`` resolved for one deployment's topic prefix."""

    spec: ChannelsFile
    prefix: str

    def for_person(self, person_id: str) -> tuple[Channel, ...]:
        own = self.spec.people.get(person_id, PersonChannels())
        out: list[Channel] = []
        if own.mqtt if own.mqtt is not None else self.spec.mqtt.enabled:
            topic = notice_topic(self.prefix, person_id)
            out.append(Channel(MQTT_CHANNEL, "mqtt", topic, self.spec.mqtt.timeout_s))
        names = own.webhooks if own.webhooks is not None else self.spec.default_webhooks
        for name in names:
            hook = self.spec.webhooks[name]
            out.append(Channel(f"webhook:{name}", "webhook", hook.url, hook.timeout_s, name))
        return tuple(out)

    @property
    def policy(self) -> RetryPolicy:
        return self.spec.retry.policy()

    def lang(self, person_id: str, default: Lang) -> Lang:
        own = self.spec.people.get(person_id)
        return own.lang if own is not None and own.lang is not None else default


def check_channels(
    config_dir: Path, people: Mapping[str, object] | None = None
) -> tuple[list[Problem], ChannelsFile | None]:
    """Every problem of ``channels.yaml``; with ``people`` (the town's), also unknown
    people, and people on MQTT whose id cannot be a topic level."""
    path = config_dir / CHANNELS_FILE
    if not path.exists():
        return [], ChannelsFile()
    problems, spec = check_file(path, ChannelsFile)
    if spec is None or people is None:
        return problems, spec
    for person_id in spec.people:
        if person_id not in people:
            problems.append(
                Problem(
                    str(path), f"people.{person_id}", person_id, "no such person in people.yaml"
                )
            )
    for person_id in people:
        own = spec.people.get(person_id, PersonChannels())
        on_mqtt = own.mqtt if own.mqtt is not None else spec.mqtt.enabled
        if on_mqtt:
            try:
                notice_topic("gw", person_id)
            except ContractError:
                problems.append(
                    Problem(
                        str(path),
                        f"people.{person_id}.mqtt",
                        person_id,
                        f"person id cannot be an MQTT topic level ({DEVICE_ID_PATTERN});"
                        " set mqtt: false for this person",
                    )
                )
    return problems, (spec if not problems else None)


def load_channels(config_dir: Path, people: Mapping[str, object], prefix: str) -> Channels:
    """``channels.yaml`` checked against the town's people; ConfigError listing every problem."""
    problems, spec = check_channels(config_dir, people)
    if spec is None:
        raise ConfigError("\n".join(str(p) for p in problems))
    return Channels(spec, prefix)


def missing_secrets(channels: Channels, secrets: Mapping[str, object]) -> list[str]:
    """Webhooks that have no signing secret in the settings."""
    return sorted(name for name in channels.spec.webhooks if name not in secrets)
