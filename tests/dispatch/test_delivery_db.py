"""Delivery against the real PostgreSQL and Mosquitto: retries to a webhook, a notice
nobody receives escalating its case, and a field app's persistent MQTT session."""

from __future__ import annotations

import dataclasses
import json
import queue
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from dispatch.clock import ManualClock, SystemClock
from dispatch.delivery.channels import Channels, ChannelsFile
from dispatch.delivery.senders import PahoPublisher, UrllibPoster
from dispatch.delivery.signing import signature
from dispatch.delivery.worker import Deliverer
from dispatch.notify import Notice, OutboxNotifier
from dispatch.store import Context
from gateway.contract import NoticeMessage, notice_topic
from tests.dispatch.conftest import TZ, TownFixture, open_fire_case
from tests.dispatch.receiver import Receiver

SECRET = b"test-secret-not-for-production"
FAST = {"first_delay_s": 0.05, "max_delay_s": 0.2, "factor": 2.0, "lease_s": 5.0}


def webhook_channels(url: str, **retry: Any) -> Channels:
    spec = ChannelsFile.model_validate(
        {
            "retry": {**FAST, **retry},
            "mqtt": {"enabled": False},
            "webhooks": {"platform": {"url": url, "timeout_s": 5}},
            "default_webhooks": ["platform"],
        }
    )
    return Channels(spec, "gw")


def deliverer(ctx: Context, channels: Channels, mqtt: PahoPublisher | None = None) -> Deliverer:
    return Deliverer(
        ctx=ctx,
        channels=channels,
        secrets={"platform": SECRET},
        webhooks=UrllibPoster(),
        mqtt=mqtt,
        worker="test",
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET, fail_first=3).start()
    yield r
    r.stop()


def queue_notice(conn: psycopg.Connection[Any], person: str, at: datetime) -> int:
    OutboxNotifier().send(
        conn,
        Notice(person, None, "assigned", None, f"t:{uuid.uuid4()}", "新案件", "New case"),
        at,
    )
    row = conn.execute("SELECT max(id) FROM notifications").fetchone()
    assert row is not None
    return int(row[0])


def test_webhook_failing_three_times_holds_one_signed_notice_after_four_attempts(
    conn: psycopg.Connection[Any], ctx: Context, zhongmen: TownFixture, receiver: Receiver
) -> None:
    live = dataclasses.replace(ctx, clock=SystemClock())
    person = next(iter(zhongmen.town.people))
    nid = queue_notice(conn, person, live.clock.now())
    worker = deliverer(live, webhook_channels(receiver.url))

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        worker.deliver_batch(conn)
        status = conn.execute("SELECT status FROM notifications WHERE id = %s", (nid,)).fetchone()
        if status is not None and status[0] != "pending":
            break
        time.sleep(0.02)

    assert receiver.raw == 4
    assert [n["id"] for n in receiver.notices] == [nid]
    assert receiver.refused == []
    log = conn.execute(
        "SELECT attempt, outcome, answer, acknowledged, sent FROM notification_attempts"
        " WHERE notification_id = %s ORDER BY id",
        (nid,),
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in log] == [
        (1, "retry", "HTTP 503", False),
        (2, "retry", "HTTP 503", False),
        (3, "retry", "HTTP 503", False),
        (4, "acknowledged", "HTTP 200", True),
    ]
    # Every attempt sent the same id and message, each signed over its own timestamp.
    assert {r[4]["id"] for r in log} == {nid}
    assert len({json.dumps(json.loads(r[4]["body"]), sort_keys=True) for r in log}) == 1
    for r in log:
        sent = r[4]
        expected = signature(SECRET, sent["timestamp"], sent["body"].encode())
        assert sent["headers"]["X-Gridwatch-Signature"] == expected
        assert sent["headers"]["X-Gridwatch-Id"] == str(nid)
    assert json.loads(log[-1][4]["body"]) == receiver.notices[0]
    row = conn.execute(
        "SELECT status, attempts, delivered_at IS NOT NULL FROM notifications WHERE id = %s",
        (nid,),
    ).fetchone()
    assert row == ("delivered", 4, True)


def test_undeliverable_notice_fails_and_escalates_its_case(
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
) -> None:
    always_down = Receiver(SECRET, fail_first=1_000).start()
    try:
        case = open_fire_case(conn, ctx, zhongmen, clock, zhongmen.unit(3))
        row = conn.execute(
            "SELECT id FROM notifications WHERE case_id = %s AND kind = 'assigned'", (case.case_id,)
        ).fetchone()
        assert row is not None
        nid = int(row[0])
        worker = deliverer(ctx, webhook_channels(always_down.url, max_attempts=3))
        for _ in range(20):
            worker.deliver_batch(conn)
            clock.advance(timedelta(seconds=1))
            done = conn.execute("SELECT status FROM notifications WHERE id = %s", (nid,)).fetchone()
            if done is not None and done[0] == "failed":
                break
    finally:
        always_down.stop()

    status, failed_at, error = conn.execute(
        "SELECT status, failed_at, last_error FROM notifications WHERE id = %s", (nid,)
    ).fetchone() or (None, None, None)
    assert status == "failed" and failed_at is not None
    assert error is not None and "HTTP 503" in error
    assert always_down.notices == []
    level, escalated_to = conn.execute(
        "SELECT escalation_level, escalated_to FROM cases WHERE id = %s", (case.case_id,)
    ).fetchone() or (None, None)
    assert level == 1 and escalated_to == case.leaders[1]
    note = conn.execute(
        "SELECT note FROM case_history WHERE case_id = %s AND actor = 'delivery'",
        (case.case_id,),
    ).fetchone()
    assert note is not None and f"notice #{nid}" in note[0]
    told = conn.execute(
        "SELECT recipient FROM notifications WHERE case_id = %s AND kind = 'escalated'",
        (case.case_id,),
    ).fetchall()
    assert [r[0] for r in told] == [case.leaders[1]]


class FieldApp:
    """A person's field app: MQTT v5, persistent session, QoS 1 on its own topic."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.client_id = f"app-{uuid.uuid4().hex[:10]}"
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.session_present: bool | None = None
        self._client: Any = None

    def connect(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        subscribed = queue.Queue[bool]()

        def on_connect(c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
            self.session_present = bool(flags.session_present)
            c.subscribe(self.topic, qos=1)

        def on_subscribe(c: Any, u: Any, mid: Any, rcs: Any, props: Any) -> None:
            subscribed.put(True)

        def on_message(c: Any, u: Any, msg: Any) -> None:
            self.received.put(json.loads(msg.payload))

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped
        props.SessionExpiryInterval = 300
        client.connect(self.host, self.port, clean_start=False, properties=props)
        client.loop_start()
        subscribed.get(timeout=10)
        self._client = client

    def disconnect(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def drain(self, wait_s: float) -> list[dict[str, Any]]:
        out = []
        end = time.monotonic() + wait_s
        while (left := end - time.monotonic()) > 0:
            try:
                out.append(self.received.get(timeout=left))
            except queue.Empty:
                break
        return out


@pytest.fixture
def broker(mqtt_broker: tuple[str, int], topic_prefix: str) -> tuple[str, int, str]:
    """The shared Mosquitto and this test's own prefix."""
    return (*mqtt_broker, topic_prefix)


def test_field_app_gets_its_case_notice_after_reconnecting_and_nothing_acknowledged(
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    clock: ManualClock,
    broker: tuple[str, int, str],
) -> None:
    host, port, topic_prefix = broker
    unit = zhongmen.unit(5)
    person = zhongmen.town.hierarchy.chain(unit)[0].leader
    assert person is not None
    spec = ChannelsFile.model_validate({"retry": FAST})
    publisher = PahoPublisher(f"deliver-{uuid.uuid4().hex[:8]}", host, port).start()
    app = FieldApp(host, port, notice_topic(topic_prefix, person.person_id))
    try:
        assert publisher.wait_connected(10)
        worker = deliverer(ctx, Channels(spec, topic_prefix), publisher)
        app.connect()
        first = queue_notice(conn, person.person_id, clock.now())
        worker.deliver_batch(conn)
        assert [m["id"] for m in app.drain(2.0)] == [first]
        app.disconnect()

        case = open_fire_case(conn, ctx, zhongmen, clock, unit)
        worker.deliver_batch(conn)
        app.connect()
        got = app.drain(2.0)
    finally:
        app.disconnect()
        publisher.stop()

    assert app.session_present is True
    assert len(got) == 1, got
    notice = NoticeMessage.model_validate(got[0])
    assert notice.case_id == case.case_id and notice.notice_kind == "assigned"
    assert notice.unit is not None and notice.unit.id == unit
    assert notice.unit.name in notice.text
    accept_by = conn.execute(
        "SELECT accept_by FROM cases WHERE id = %s", (case.case_id,)
    ).fetchone()
    assert accept_by is not None and notice.deadline == accept_by[0]
    assert notice.deadline.utcoffset() == timedelta(hours=8)
    assert accept_by[0].astimezone(TZ).strftime("%H:%M") in notice.text
    assert notice.expected == "accept" and "受理" in notice.text and "Accept" in notice.text_en
    answers = conn.execute(
        "SELECT answer FROM notification_attempts a JOIN notifications n"
        " ON n.id = a.notification_id WHERE n.recipient = %s ORDER BY a.id",
        (person.person_id,),
    ).fetchall()
    assert [r[0] for r in answers] == ["PUBACK 0", "PUBACK 0"]


def test_a_notice_nobody_subscribed_to_is_retried_not_taken_as_delivered(
    conn: psycopg.Connection[Any],
    ctx: Context,
    zhongmen: TownFixture,
    broker: tuple[str, int, str],
) -> None:
    host, port, prefix = broker
    person = next(iter(zhongmen.town.people))
    spec = ChannelsFile.model_validate({"retry": {**FAST, "max_attempts": 2}})
    publisher = PahoPublisher(f"deliver-{uuid.uuid4().hex[:8]}", host, port).start()
    try:
        assert publisher.wait_connected(10)
        worker = deliverer(ctx, Channels(spec, prefix), publisher)
        nid = queue_notice(conn, person, ctx.clock.now())
        worker.deliver_batch(conn)
        ctx_clock = ctx.clock
        assert isinstance(ctx_clock, ManualClock)
        ctx_clock.advance(timedelta(seconds=1))
        worker.deliver_batch(conn)
    finally:
        publisher.stop()
    log = conn.execute(
        "SELECT outcome, answer FROM notification_attempts WHERE notification_id = %s ORDER BY id",
        (nid,),
    ).fetchall()
    assert log == [("retry", "PUBACK 16"), ("retry", "PUBACK 16")]
    status = conn.execute("SELECT status FROM notifications WHERE id = %s", (nid,)).fetchone()
    assert status == ("failed",)
