"""The MQTT contract between edge boxes and the gateway: topics and messages.

This module imports nothing beyond pydantic and the standard library, so an edge
box installs it without any server dependency.

Topics (``P`` is the deployment's prefix, ``D`` the device id)::

    P/v1/dev/D/event    one Event                     edge -> gateway, QoS 1
    P/v1/dev/D/batch    Batch of events or readings   edge -> gateway, QoS 1
    P/v1/dev/D/status   Status, retained; also the last will
    P/v1/dev/D/ack      Ack: committed mark, retained  gateway -> edge
    P/v1/dev/D/refusal  Refusal: why messages were dead-lettered, rate-limited  gateway -> edge
    P/v1/dev/D/config   ConfigPush: zones and rules for camera D, retained   gateway -> edge
    P/v1/dev/D/snapshot      SnapshotUpload: one JPEG  edge -> gateway, QoS 1
    P/v1/dev/D/snapshot_ack  SnapshotAck: hashes stored  gateway -> edge, QoS 1
    P/v1/person/U/notice  NoticeMessage to person U   dispatch -> field app, QoS 1

Every device writes only below ``P/v1/dev/D/`` and reads only its ``ack``,
``refusal`` and ``config``, so
per-device broker ACLs are one Mosquitto ``pattern`` line per kind, with the MQTT
user name equal to the device id (``%u``: the broker checks the user name, while
the client id is the client's to choose). ``gridwatch broker config`` writes them
(docs/mqtt-security.md)::

    pattern write P/v1/dev/%u/event
    pattern write P/v1/dev/%u/batch
    pattern write P/v1/dev/%u/status
    pattern write P/v1/dev/%u/snapshot
    pattern read  P/v1/dev/%u/ack
    pattern read  P/v1/dev/%u/refusal
    pattern read  P/v1/dev/%u/config
    pattern read  P/v1/dev/%u/snapshot_ack
    pattern read  P/v1/person/%u/notice    (a field app logs in as its person id)

Compatibility: a gateway accepts any message of its major version, including
ones that carry optional fields it does not know (boxes upgrade one at a time).
A message of another major version is rejected with a reason.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import TzInfo

CONTRACT_MAJOR = 1
CONTRACT_VERSION = "1.0"

#: Device ids appear in topics, so they are restricted to topic-safe characters.
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)

#: Caps per message kind, in bytes of the raw payload. An event carries only its
#: snapshots' hashes and references, so it stays small; the JPEG travels apart,
#: as a ``snapshot`` message no larger than a batch (the broker's packet limit).
MAX_BYTES: dict[str, int] = {
    "event": 64 * 1024,
    "batch": 1024 * 1024,
    "status": 16 * 1024,
    "ack": 4 * 1024,
    "refusal": 8 * 1024,
    "config": 256 * 1024,
    "snapshot": 1024 * 1024,
    "snapshot_ack": 64 * 1024,
}
#: The largest JPEG a snapshot message holds: base64 takes 4/3 of it, the envelope the rest.
MAX_SNAPSHOT_JPEG = 720 * 1024
#: Hashes one SnapshotAck names at most.
MAX_SNAPSHOT_ACK = 500
MAX_BATCH_ITEMS = 1000


class MessageKind(StrEnum):
    EVENT = "event"
    BATCH = "batch"
    STATUS = "status"
    ACK = "ack"
    REFUSAL = "refusal"
    CONFIG = "config"
    SNAPSHOT = "snapshot"
    SNAPSHOT_ACK = "snapshot_ack"


class ContractError(ValueError):
    """A payload or topic that breaks the contract; ``reason`` says how."""

    def __init__(self, reason: str, *, kind: str | None = None, device_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.device_id = device_id


# --------------------------------------------------------------------------- topics


def _check_prefix(prefix: str) -> str:
    if not prefix or any(c in prefix for c in "+#\0") or prefix.startswith("$"):
        raise ContractError(f"topic prefix {prefix!r} must be non-empty, without + # or NUL")
    return prefix.rstrip("/")


def topic(prefix: str, device_id: str, kind: MessageKind | str) -> str:
    """The topic one device publishes (or, for ``ack``, reads) a kind of message on."""
    kind = MessageKind(kind)
    if not _DEVICE_ID_RE.match(device_id):
        raise ContractError(f"device id {device_id!r} does not match {DEVICE_ID_PATTERN}")
    return f"{_check_prefix(prefix)}/v{CONTRACT_MAJOR}/dev/{device_id}/{kind.value}"


def subscription(prefix: str, kind: MessageKind | str, share_group: str | None = None) -> str:
    """The filter the gateway subscribes with, as a shared subscription when grouped.

    Shared subscriptions (MQTT 5.0 section 4.8.2) let several gateway processes
    split one stream: the broker hands each message to one member of the group.
    """
    kind = MessageKind(kind)
    filt = f"{_check_prefix(prefix)}/v{CONTRACT_MAJOR}/dev/+/{kind.value}"
    return f"$share/{share_group}/{filt}" if share_group else filt


def parse_topic(prefix: str, topic_name: str) -> tuple[str, MessageKind]:
    """Split a received topic into (device id, kind); ContractError when it is not ours."""
    base = f"{_check_prefix(prefix)}/v"
    if not topic_name.startswith(base):
        raise ContractError(f"topic {topic_name!r} is outside prefix {prefix!r}")
    parts = topic_name[len(base) :].split("/")
    if len(parts) != 4 or parts[1] != "dev":
        raise ContractError(f"topic {topic_name!r} is not <prefix>/v<major>/dev/<device>/<kind>")
    major, _, device_id, kind = parts
    if major != str(CONTRACT_MAJOR):
        raise ContractError(
            f"topic {topic_name!r} has major version v{major}, expected v{CONTRACT_MAJOR}"
        )
    if not _DEVICE_ID_RE.match(device_id):
        raise ContractError(f"device id {device_id!r} in topic does not match {DEVICE_ID_PATTERN}")
    try:
        return device_id, MessageKind(kind)
    except ValueError as exc:
        kinds = [k.value for k in MessageKind]
        raise ContractError(f"topic kind {kind!r} is not one of {kinds}") from exc


#: The one topic kind below ``P/v1/person/U/``: notices for person U's field app.
NOTICE_KIND = "notice"


def notice_topic(prefix: str, person_id: str) -> str:
    """The topic person ``person_id``'s field app subscribes to (QoS 1, persistent session)."""
    if not _DEVICE_ID_RE.match(person_id):
        raise ContractError(
            f"person id {person_id!r} cannot be a topic level: expected {DEVICE_ID_PATTERN}"
        )
    return f"{_check_prefix(prefix)}/v{CONTRACT_MAJOR}/person/{person_id}/{NOTICE_KIND}"


# --------------------------------------------------------------------------- models


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL character in string")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
ShortText = Annotated[str, Field(max_length=128), AfterValidator(_no_nul)]
DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
Seq = Annotated[int, Field(ge=0, le=2**63 - 1)]


def _aware(value: datetime) -> datetime:
    tz = value.tzinfo
    # pydantic's own TzInfo (every offset parsed from JSON) is a fixed offset:
    # asking it for utcoffset() costs a microsecond per timestamp at bulk rates.
    if tz is None or (type(tz) is not TzInfo and value.utcoffset() is None):
        raise ValueError("timestamp must carry a UTC offset")
    return value


_FRACTION = re.compile(r"(\.\d{6})(\d+)")


def _microseconds(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
    # RFC 3339 allows any number of fraction digits; PostgreSQL keeps microseconds.
    # A 7th digit of 5 or more rounds up, as msgspec (the gateway's fast path) does,
    # so both paths store the same instant (pydantic alone would truncate).
    if isinstance(value, str) and (m := _FRACTION.search(value)) is not None:
        up = m.group(2)[0] >= "5"
        parsed: datetime = handler(value[: m.start()] + m.group(1) + value[m.end() :])
        try:
            return parsed + timedelta(microseconds=1) if up else parsed
        except OverflowError as exc:
            raise ValueError(f"timestamp {value!r} rounds past year 9999") from exc
    result: datetime = handler(value)
    return result


AwareDatetime = Annotated[datetime, WrapValidator(_microseconds), AfterValidator(_aware)]


class _Wire(BaseModel):
    """Base for wire messages: unknown optional fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    v: str = Field(CONTRACT_VERSION, description="Contract version major.minor")

    @field_validator("v")
    @classmethod
    def _same_major(cls, value: str) -> str:
        major, _, _minor = value.partition(".")
        if major != str(CONTRACT_MAJOR):
            raise ValueError(f"contract version {value!r} is not major {CONTRACT_MAJOR}")
        return value


class Snapshot(BaseModel):
    """Where the evidence frame is and what it hashes to; bytes never travel inline."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    ref: Text = Field(max_length=1024, description="URL or path of the stored image")
    frame: int | None = Field(None, ge=0, description="Frame index in the source")
    width: int | None = Field(None, ge=1, le=16384)
    height: int | None = Field(None, ge=1, le=16384)


class GeoPoint(BaseModel):
    """A WGS-84 position."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class _FromDevice(_Wire):
    """What every message a device sends carries: who, in which order, and when.

    The gateway acks the highest ``seq`` committed without a gap, per device.
    """

    device_id: DeviceId
    seq: Seq = Field(description="The device's own increasing sequence number")
    ts: AwareDatetime = Field(
        description="Edge timestamp: when it happened (an event or its update, a reading, a status)"
    )


class Event(_FromDevice):
    """Something a rule saw: one situation gives one event id, updated as it goes."""

    kind: Literal["event"] = "event"
    event_id: UUID
    rule: ShortText = Field(description="Rule that fired, e.g. intrusion, loitering")
    category: ShortText = Field(description="Problem category, owned by a department")
    severity: int = Field(2, ge=1, le=4, description="1 urgent .. 4 minor")
    phase: Literal["start", "update", "end"] = "start"
    cls: ShortText | None = Field(None, description="Detected object class")
    score: float | None = Field(None, ge=0, le=1, description="Detector confidence")
    score_median: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Median of the confirmed track's scores over its confirmation window "
        "(optional, contract 1.x: older gateways keep it as an unknown field)",
    )
    score_top: float | None = Field(
        None, ge=0, le=1, description="The confirmed track's highest score so far (optional)"
    )
    track_id: int | None = Field(None, ge=0, le=2**63 - 1)
    zone: ShortText | None = None
    box: tuple[float, float, float, float] | None = Field(
        None, description="Pixel box x1, y1, x2, y2"
    )
    point: GeoPoint | None = Field(None, description="Object position on the map")
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    snapshot: Snapshot | None = None
    crop: Snapshot | None = Field(None, description="The object cut out of the snapshot")
    summary: Text | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _ordered(self) -> Event:
        if self.box is not None and (self.box[2] < self.box[0] or self.box[3] < self.box[1]):
            raise ValueError(f"box {self.box} has x2 < x1 or y2 < y1")
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Reading(_FromDevice):
    """A sensor value at one time."""

    kind: Literal["reading"] = "reading"
    sensor: ShortText = Field(description="Sensor channel, e.g. water_level")
    value: float
    unit: ShortText | None = None


BatchItem = Annotated[Event | Reading, Field(discriminator="kind")]


class Batch(_FromDevice):
    """The bulk kind: many events or readings of one device in one message."""

    kind: Literal["batch"] = "batch"
    seq: Seq = Field(description="Sequence number of the last item")
    ts: AwareDatetime = Field(description="When the batch was sent")
    items: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)

    @model_validator(mode="after")
    def _consistent(self) -> Batch:
        last = -1
        for i, item in enumerate(self.items):
            if item.device_id != self.device_id:
                raise ValueError(
                    f"items[{i}].device_id {item.device_id!r} differs from batch {self.device_id!r}"
                )
            if item.seq <= last:
                raise ValueError(f"items[{i}].seq {item.seq} does not increase (previous {last})")
            last = item.seq
        if self.seq != last:
            raise ValueError(f"batch seq {self.seq} is not the last item's seq {last}")
        return self


class Status(_FromDevice):
    """Device health; published retained, and registered as the last will (offline)."""

    kind: Literal["status"] = "status"
    state: Literal["online", "offline"]
    fps: float | None = Field(None, ge=0, le=1000)
    last_frame_ts: AwareDatetime | None = None
    sw_version: ShortText | None = None
    contract_version: ShortText = CONTRACT_VERSION
    clock_offset_s: float | None = Field(None, description="Edge clock minus server clock")
    outbox_items: int | None = Field(None, ge=0)
    dropped: dict[ShortText, int] = Field(default_factory=dict)
    detail: Text | None = Field(None, max_length=2000)
    config_version: ShortText | None = Field(
        None, description="Version of the pushed config this device runs; none: its local file"
    )
    config_error: Text | None = Field(
        None, max_length=2000, description="Why the last pushed config was refused"
    )
    will: bool = Field(
        False,
        description="True in the last will: the broker sends it long after the edge wrote "
        "its ts (at connect), so the gateway stamps it with the time it received it",
    )


class Ack(_Wire):
    """Gateway to edge: the highest sequence number committed without a gap."""

    kind: Literal["ack"] = "ack"
    device_id: DeviceId
    committed_seq: int = Field(ge=-1, description="-1 when nothing is committed yet")
    ts: AwareDatetime


class Refusal(_Wire):
    """Gateway to edge: messages of this device were refused (dead-lettered), and why.

    Sent at most once per ``retry_after_s`` per device; ``refused`` counts the
    messages refused since the previous Refusal. The edge backs off at least
    ``retry_after_s`` before it sends again.
    """

    kind: Literal["refusal"] = "refusal"
    device_id: DeviceId
    ts: AwareDatetime
    reason: Text = Field(max_length=2000, description="The dead letter's reason")
    refused_kind: ShortText | None = Field(None, description="Kind of the refused message")
    refused: int = Field(1, ge=1, description="Messages refused since the last Refusal")
    retry_after_s: float = Field(ge=0, le=86400)


class ConfigPush(_Wire):
    """Gateway to edge, retained: the zones and rules camera ``device_id`` should run.

    ``config`` holds the camera config's ``zones`` and ``rules`` in the edge file's
    own form; the edge validates them with the models of that file, applies them
    without a restart and reports ``version`` in its Status (``config_version``),
    or keeps its old config and reports why (``config_error``).
    """

    kind: Literal["config"] = "config"
    device_id: DeviceId
    version: ShortText = Field(min_length=1, description="Chosen by the sender, e.g. a date")
    ts: AwareDatetime
    config: dict[ShortText, Any] = Field(description="zones and rules, as in the edge YAML")


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class SnapshotUpload(_Wire):
    """Edge to gateway: one evidence JPEG, base64 in ``data``; ``sha256`` is what the
    event carries, and the gateway refuses bytes that do not hash to it.

    Sent apart from (and possibly after) its event; QoS 1, resent until a
    ``SnapshotAck`` names it. No ``seq``: snapshots are keyed by their hash.
    """

    kind: Literal["snapshot"] = "snapshot"
    device_id: DeviceId
    ts: AwareDatetime = Field(description="When the frame was taken")
    sha256: Sha256
    event_id: UUID | None = Field(None, description="The event whose evidence it is")
    role: Literal["frame", "crop"] = "frame"
    category: ShortText | None = Field(None, description="The event's category (retention)")
    content_type: Literal["image/jpeg"] = "image/jpeg"
    data: str = Field(
        min_length=4,
        max_length=(MAX_SNAPSHOT_JPEG + 2) // 3 * 4,
        pattern=r"^[A-Za-z0-9+/]+={0,2}$",
        description="The JPEG, standard base64 with padding",
    )


class SnapshotAck(_Wire):
    """Gateway to edge (not retained): snapshots stored (``stored``; the box may delete
    them) and refused (``refused``: their bytes did not match their hash)."""

    kind: Literal["snapshot_ack"] = "snapshot_ack"
    device_id: DeviceId
    ts: AwareDatetime
    stored: list[Sha256] = Field(default_factory=list, max_length=MAX_SNAPSHOT_ACK)
    refused: list[Sha256] = Field(default_factory=list, max_length=MAX_SNAPSHOT_ACK)


class NoticeUnit(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: ShortText
    name: Text = Field(max_length=128)


class NoticeMessage(_Wire):
    """A notice to a person: the MQTT payload on :func:`notice_topic`, and a webhook's body.

    ``id`` is the notification's id: every retry carries the same one, so a
    receiver shows a notice once however often it arrives. ``title``/``text`` are
    Chinese, ``title_en``/``text_en`` English; ``lang`` says which to show.
    """

    kind: Literal["notice"] = "notice"
    id: int = Field(ge=1)
    notice_kind: ShortText = Field(description="assigned, reminder_accept, escalated ...")
    recipient: ShortText
    case_id: int | None = Field(None, ge=1)
    unit: NoticeUnit | None = None
    deadline: AwareDatetime | None = Field(None, description="In the deployment's time zone")
    expected: ShortText | None = Field(None, description="accept, resolve, supervise, attend")
    lang: Literal["zh", "en"] = "zh"
    title: Text = Field(max_length=200)
    text: Text = Field(max_length=2000)
    title_en: Text = Field(max_length=200)
    text_en: Text = Field(max_length=2000)
    created_at: AwareDatetime


MODELS: dict[MessageKind, type[_Wire]] = {
    MessageKind.EVENT: Event,
    MessageKind.BATCH: Batch,
    MessageKind.STATUS: Status,
    MessageKind.ACK: Ack,
    MessageKind.REFUSAL: Refusal,
    MessageKind.CONFIG: ConfigPush,
    MessageKind.SNAPSHOT: SnapshotUpload,
    MessageKind.SNAPSHOT_ACK: SnapshotAck,
}

Message = Event | Batch | Status | Ack | Refusal | ConfigPush | SnapshotUpload | SnapshotAck


def _reject_constant(token: str) -> Any:
    raise ContractError(f"number {token} (NaN or Infinity) is not valid JSON")


def parse(kind: MessageKind | str, payload: bytes, *, device_id: str | None = None) -> Message:
    """Validate a raw payload of a kind; raise ContractError naming the problem.

    With ``device_id`` (from the topic) the payload's device must match it.
    """
    return parse_with_data(kind, payload, device_id=device_id)[0]


def parse_with_data(
    kind: MessageKind | str, payload: bytes, *, device_id: str | None = None
) -> tuple[Message, dict[str, Any]]:
    """``parse``, also returning the payload's JSON object (what the models ignore included)."""
    kind = MessageKind(kind)
    if len(payload) > MAX_BYTES[kind.value]:
        raise ContractError(
            f"{kind.value} payload of {len(payload)} bytes exceeds {MAX_BYTES[kind.value]}",
            kind=kind.value,
            device_id=device_id,
        )
    try:
        data = load(payload)
        msg = _checked_parse(kind, data)
    except ContractError as exc:
        exc.kind, exc.device_id = kind.value, device_id
        raise
    payload_device = getattr(msg, "device_id", None)
    if device_id is not None and payload_device != device_id:
        raise ContractError(
            f"payload device_id {payload_device!r} does not match topic device {device_id!r}",
            kind=kind.value,
            device_id=device_id,
        )
    return msg, data  # type: ignore[return-value]


#: A NUL or a lone UTF-16 surrogate: no PostgreSQL text can hold either.
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


def load(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object, refused (ContractError) with what is wrong.

    Stricter than ``json.loads`` anywhere in the document, fields the models ignore
    included: the payload must be UTF-8 (no surrogates), numbers finite and without
    NaN or Infinity, strings free of NUL and of lone surrogate escapes.
    """
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except ContractError:  # NaN or Infinity (a ValueError too)
        raise
    except UnicodeDecodeError as exc:
        raise ContractError(f"not JSON: not UTF-8 ({exc})") from exc
    except RecursionError as exc:
        raise ContractError("not JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        raise ContractError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"payload is a JSON {type(data).__name__}, expected an object")
    _check_values(data, "")
    return data


def _check_values(value: Any, path: str) -> None:
    if isinstance(value, str):
        if (m := _BAD_CHAR.search(value)) is not None:
            what = "NUL character" if m.group() == "\x00" else "lone surrogate"
            raise ContractError(f"{path or '(root)'}: {what} in string")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ContractError(f"{path or '(root)'}: number out of range (infinite)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_values(key, path)
            _check_values(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_values(item, f"{path}[{i}]")


def _checked_parse(kind: MessageKind, data: dict[str, Any]) -> _Wire:
    try:
        msg = MODELS[kind].model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        value = first.get("input")
        shown = repr(value)[:80]
        reason = f"{kind.value}.{loc} = {shown}: {first['msg']}"
        if exc.error_count() > 1:
            reason += f" (and {exc.error_count() - 1} more)"
        raise ContractError(reason) from exc
    return msg


def dumps(message: BaseModel) -> bytes:
    """Serialise a message for the wire (compact JSON, UTF-8)."""
    return message.model_dump_json(exclude_none=True).encode()


def json_schemas() -> dict[str, Any]:
    """JSON Schema of every message kind, keyed by kind."""
    out: dict[str, Any] = {"contract_version": CONTRACT_VERSION}
    for kind, model in MODELS.items():
        out[kind.value] = TypeAdapter(model).json_schema()
    out[NOTICE_KIND] = TypeAdapter(NoticeMessage).json_schema()
    return out
