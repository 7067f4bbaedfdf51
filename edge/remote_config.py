"""A camera's config pushed to it while it runs (``gridwatch edge push-config``): its
zones and rules, detect rate, privacy and homography (``PUSHABLE``).

The gateway publishes a contract ``ConfigPush`` on the camera's retained
``config`` topic. paho's thread only hands the payload over; the agent's status
thread validates it with the edge file's own model (``CameraConfig``: the pushed
keys over the camera's current config), swaps them in without a restart, and
reports the version, or the reason it refused the push, in the camera's Status.
A refused push leaves the camera on its old config.
The retained message is the record: after a restart the broker hands it over again.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from edge.camera import CameraRunner, build_rules
from edge.config import CameraConfig, format_errors
from gateway.contract import ConfigPush, ContractError, MessageKind, Status, parse
from gridwatch.town.models import fit_homography

log = logging.getLogger(__name__)

#: What a push may change; the stream and the camera's identity stay the box's own.
PUSHABLE = ("zones", "rules", "detect_fps", "privacy", "homography")


class PushRefused(Exception):
    """A pushed config the edge will not run; the message says why."""


def pushed_camera(current: CameraConfig, push: ConfigPush) -> CameraConfig:
    """The camera config with the push's zones and rules, validated like the local file."""
    unknown = sorted(set(push.config) - set(PUSHABLE))
    if unknown:
        raise PushRefused(
            f"pushed config {push.version!r} for {current.id}: keys {unknown} cannot be "
            f"pushed; expected only {list(PUSHABLE)}"
        )
    merged = current.model_dump() | push.config
    try:
        return CameraConfig.model_validate(merged)
    except ValidationError as exc:
        source = f"pushed config {push.version!r} for {current.id}"
        raise PushRefused(format_errors(exc, source, merged)) from exc


@dataclass
class PushState:
    version: str | None = None
    error: str | None = None


class RemoteConfig:
    """The pushes waiting for the status thread, and what each camera runs."""

    def __init__(self, cameras: Sequence[CameraRunner], tz: ZoneInfo) -> None:
        self._cameras = {c.cam.id: c for c in cameras}
        self._tz = tz
        self._inbox: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=100)
        self.state = {cid: PushState() for cid in self._cameras}

    def offer(self, device_id: str, payload: bytes, wake: Callable[[], None]) -> None:
        """paho's thread: hand the payload over and wake the status thread."""
        try:
            self._inbox.put_nowait((device_id, payload))
        except queue.Full:
            log.warning(
                "%s: pushed configs are arriving faster than applied; dropped one", device_id
            )
        wake()

    def apply_pending(self) -> bool:
        """Apply what was pushed since the last call; True when anything changed."""
        changed = False
        while True:
            try:
                device_id, payload = self._inbox.get_nowait()
            except queue.Empty:
                return changed
            changed = self._apply(device_id, payload) or changed

    def _apply(self, device_id: str, payload: bytes) -> bool:
        runner, state = self._cameras.get(device_id), self.state.get(device_id)
        if runner is None or state is None or not payload:
            return False  # an empty retained message clears the topic: nothing to run
        try:
            push = parse(MessageKind.CONFIG, payload, device_id=device_id)
            if not isinstance(push, ConfigPush):
                return False
            if push.version == state.version:
                return False  # the retained copy again, after a reconnect
            cam = pushed_camera(runner.cam, push)
            homography = fit_homography(cam.homography) if cam.homography else None
            rules = build_rules(cam, self._tz, homography)
        except (ContractError, PushRefused, ValueError) as exc:
            state.error = str(exc)[:2000]
            log.error("%s: pushed config refused, keeping the old one: %s", device_id, exc)
            return True
        # Two attribute writes the camera thread reads once per frame: it runs the next
        # frame on the new rules. Episodes open under the old rules end without an event.
        runner.reconfigure(cam, rules, homography)
        state.version, state.error = push.version, None
        log.info("%s: applied pushed config %s", device_id, push.version)
        return True


def with_push_state(status: Status, state: PushState | None) -> Status:
    if state is None or (state.version is None and state.error is None):
        return status
    return status.model_copy(update={"config_version": state.version, "config_error": state.error})
