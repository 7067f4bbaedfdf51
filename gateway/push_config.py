"""Publish a camera's pushable config to its edge box (``gridwatch edge push-config``).

One retained QoS 1 ``ConfigPush`` on the camera's ``config`` topic: the box applies
it when it arrives, or when it next connects. The edge validates it and reports
the outcome in the camera's Status (``config_version`` / ``config_error``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.contract import ConfigPush, MessageKind, dumps, topic
from gridwatch.settings import Settings


class PushError(Exception):
    """A config that could not be handed to the broker."""


def config_message(device_id: str, version: str, config: dict[str, Any]) -> ConfigPush:
    return ConfigPush.model_validate(
        {"device_id": device_id, "version": version, "ts": datetime.now(UTC), "config": config}
    )


def push_config(settings: Settings, message: ConfigPush, *, timeout: float = 10.0) -> str:
    """Publish ``message`` retained on its camera's config topic; the topic."""
    from gateway.api.replay import ReplayError, publish_once

    name = topic(settings.topic_prefix, message.device_id, MessageKind.CONFIG)
    try:
        publish_once(settings, name, dumps(message), timeout, retain=True)
    except ReplayError as exc:
        raise PushError(f"{name}: {exc}") from exc
    return name
