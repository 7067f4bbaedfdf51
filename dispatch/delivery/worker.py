"""The delivery loop: claim due notices, send them on every channel, settle; thin on purpose.

Run any number (``gridwatch deliver``): they share the outbox through row locks
and leases. A notice goes out with the same id and text on every attempt.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from dispatch.delivery import outbox
from dispatch.delivery.channels import Channel, Channels
from dispatch.delivery.retry import Outcome, State, settle
from dispatch.delivery.senders import Answer, MqttPublisher, WebhookPoster
from dispatch.delivery.signing import sign
from dispatch.delivery.text import compose
from dispatch.store import Context
from dispatch.tell import FOR_INFORMATION
from gateway.contract import ContractError

log = logging.getLogger(__name__)


#: What a worker counts: attempts, delivered, retried, failed, escalated.
DeliveryStats = Counter[str]


@dataclass(frozen=True, slots=True)
class _Send:
    """One channel of one attempt, already logged as ``sending``."""

    attempt_id: int
    channel: Channel
    headers: dict[str, str]


@dataclass
class _Notice:
    row: outbox.ClaimedRow
    attempt: int
    channels: tuple[Channel, ...]
    acknowledged: set[str]
    refused: set[str]
    body: bytes
    sends: list[_Send] = field(default_factory=list)
    error: str | None = None


@dataclass
class Deliverer:
    """One worker's delivery, given its context, channels and senders."""

    ctx: Context
    channels: Channels
    secrets: dict[str, bytes]
    webhooks: WebhookPoster
    mqtt: MqttPublisher | None
    worker: str
    lang: str = "zh"
    batch: int = 50
    rng: random.Random = field(default_factory=random.Random)
    stats: DeliveryStats = field(default_factory=Counter)

    def _unit_name(self, unit_id: str) -> str | None:
        try:
            chain = self.ctx.town.hierarchy.chain(unit_id)
        except KeyError:
            return None
        return chain[0].name if chain else None

    def _channels_of(self, person: str) -> tuple[tuple[Channel, ...], str | None]:
        try:
            return self.channels.for_person(person), None
        except ContractError as exc:
            return (), str(exc)

    def _claim(self, conn: psycopg.Connection[Any]) -> list[_Notice]:
        now = self.ctx.clock.now()
        policy = self.channels.policy
        with conn.transaction():
            rows = outbox.claim(conn, now, self.batch)
            if not rows:
                return []
            ids = [r.id for r in rows]
            outbox.abandon_unanswered(conn, ids, now)
            history = outbox.channel_history(conn, ids)
            notices: list[_Notice] = []
            leased: list[tuple[int, int, dict[str, Any]]] = []
            starts: list[outbox.AttemptStart] = []
            planned: list[tuple[_Notice, Channel, dict[str, str]]] = []
            stamp = int(now.timestamp())
            for row in rows:
                message = row.message
                if message is None:
                    lang = self.channels.lang(row.recipient, "en" if self.lang == "en" else "zh")
                    composed = compose(row, self.ctx.tz, self._unit_name, lang)
                    message = composed.model_dump(mode="json", exclude_none=True)
                acked, refused = history.get(row.id, (frozenset(), frozenset()))
                channels, error = self._channels_of(row.recipient)
                if not channels and error is None:
                    error = f"person {row.recipient!r} has no channel in channels.yaml"
                body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
                notice = _Notice(row, row.attempts + 1, channels, set(acked), set(refused), body)
                notice.error = error
                notices.append(notice)
                leased.append((row.id, notice.attempt, message))
                for ch in channels:
                    if ch.name in acked or ch.name in refused:
                        continue
                    headers = (
                        sign(self.secrets[ch.webhook], row.id, stamp, body)
                        if ch.webhook is not None
                        else {}
                    )
                    # The exact text sent, so the log's signature can be checked against it.
                    sent = {
                        "id": row.id,
                        "timestamp": stamp,
                        "headers": headers,
                        "body": body.decode(),
                    }
                    starts.append(
                        outbox.AttemptStart(row.id, notice.attempt, ch.name, ch.target, sent)
                    )
                    planned.append((notice, ch, headers))
            outbox.lease(conn, leased, now + timedelta(seconds=policy.lease_s))
            ids_by = outbox.start_attempts(conn, starts, self.worker, now)
        for notice, ch, headers in planned:
            notice.sends.append(_Send(ids_by[(notice.row.id, ch.name)], ch, headers))
        return notices

    def _send(self, send: _Send, body: bytes) -> Answer:
        ch = send.channel
        if ch.kind == "webhook":
            return self.webhooks.post(ch.target, body, send.headers, ch.timeout_s)
        if self.mqtt is None:
            return Answer(Outcome.RETRY, "not connected", "this worker has no MQTT connection")
        return self.mqtt.publish(ch.target, body, ch.timeout_s)

    def _settle(
        self, conn: psycopg.Connection[Any], notice: _Notice, answers: list[Answer]
    ) -> None:
        now = self.ctx.clock.now()
        errors = [notice.error] if notice.error else []
        with conn.transaction():
            for send, answer in zip(notice.sends, answers, strict=True):
                if not outbox.finish_attempt(conn, send.attempt_id, answer, now):
                    return  # another worker holds this notice now
                if answer.outcome is Outcome.ACKNOWLEDGED:
                    notice.acknowledged.add(send.channel.name)
                elif answer.outcome is Outcome.REFUSED:
                    notice.refused.add(send.channel.name)
                if answer.outcome is not Outcome.ACKNOWLEDGED:
                    errors.append(f"{send.channel.name}: {answer.answer} {answer.error or ''}")
            settled = settle(
                {c.name for c in notice.channels},
                notice.acknowledged,
                notice.refused,
                notice.attempt,
                self.channels.policy,
                now,
                self.rng.random(),
            )
            error = "; ".join(e.strip() for e in errors) or None
            if not outbox.settle_notice(conn, notice.row.id, notice.attempt, settled, error, now):
                return
            if settled.state is State.DELIVERED:
                self.stats["delivered"] += 1
            elif settled.state is State.PENDING:
                self.stats["retried"] += 1
            else:
                self.stats["failed"] += 1
                log.warning(
                    "notice %d to %s failed: %s",
                    notice.row.id,
                    notice.row.recipient,
                    error,
                    extra={"notice_id": notice.row.id, "case_id": notice.row.case_id},
                )
                if (
                    settled.escalate
                    and notice.row.kind not in FOR_INFORMATION
                    and notice.row.case_id is not None
                    and outbox.escalate_undelivered(
                        conn, self.ctx, notice.row.case_id, notice.row.id, notice.row.recipient
                    )
                ):
                    self.stats["escalated"] += 1

    def deliver_batch(self, conn: psycopg.Connection[Any]) -> int:
        """Claim up to ``batch`` due notices, send, settle; how many were claimed."""
        notices = self._claim(conn)
        started = time.monotonic()
        lease_s = self.channels.policy.lease_s
        for notice in notices:
            answers: list[Answer] = []
            for send in notice.sends:
                if time.monotonic() - started > lease_s:
                    # Another worker may hold the notice by now; leave it to the next claim.
                    answers.append(Answer(Outcome.RETRY, "not sent", "lease ran out"))
                    continue
                answers.append(self._send(send, notice.body))
                self.stats["attempts"] += 1
            self._settle(conn, notice, answers)
        return len(notices)


def drain(conn: psycopg.Connection[Any], deliverer: Deliverer) -> int:
    """Deliver until nothing is due now (``gridwatch deliver --once``); notices claimed."""
    total = 0
    while (n := deliverer.deliver_batch(conn)) > 0:
        total += n
    return total


def run(
    dsn: str, deliverer: Deliverer, *, stop: threading.Event | None = None, idle_s: float = 0.05
) -> DeliveryStats:
    """Deliver until ``stop`` is set; survives database restarts by reconnecting."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            with psycopg.connect(
                dsn, autocommit=True, application_name=f"gridwatch-deliver-{deliverer.worker}"
            ) as conn:
                log.info("delivery worker %s connected", deliverer.worker)
                while not stop.is_set():
                    if deliverer.deliver_batch(conn) == 0:
                        stop.wait(idle_s)
        except psycopg.OperationalError as exc:
            log.warning("delivery lost the database (%s); reconnecting in 1 s", exc)
            stop.wait(1.0)
    return deliverer.stats


def make_deliverer(
    config_dir: str | Path | None = None, *, worker: str | None = None, ctx: Context | None = None
) -> Deliverer:
    """A worker from the town's config and settings (``GRIDWATCH_*``), MQTT started when any
    person is on it. Raises ConfigError (bad channels.yaml, a webhook without a secret),
    TownError on a bad town."""
    import os
    import socket

    from dispatch.delivery.channels import load_channels, missing_secrets
    from dispatch.delivery.senders import PahoPublisher, UrllibPoster
    from dispatch.errors import ConfigError
    from dispatch.worker import make_context
    from gridwatch.settings import get_settings

    settings = get_settings()
    folder = Path(config_dir) if config_dir is not None else settings.config_dir
    ctx = ctx or make_context(folder)
    channels = load_channels(folder, ctx.town.people, settings.topic_prefix)
    missing = missing_secrets(channels, settings.webhook_secrets)
    if missing:
        raise ConfigError(
            f"GRIDWATCH_WEBHOOK_SECRETS: no secret for webhook(s) {missing} of channels.yaml;"
            ' expected JSON such as {"' + missing[0] + '": "..."}'
        )
    name = worker or f"{socket.gethostname()}-{os.getpid()}"
    mqtt = None
    if channels.spec.mqtt.enabled or any(p.mqtt for p in channels.spec.people.values()):
        mqtt = PahoPublisher(
            f"gridwatch-deliver-{name}"[:64],
            settings.mqtt_host,
            settings.mqtt_port,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            tls=settings.mqtt_tls,
        ).start()
        if not mqtt.wait_connected(channels.spec.mqtt.timeout_s):
            log.warning(
                "delivery worker %s: broker %s:%d not connected yet; MQTT notices wait",
                name,
                settings.mqtt_host,
                settings.mqtt_port,
            )
    return Deliverer(
        ctx=ctx,
        channels=channels,
        secrets={k: v.get_secret_value().encode() for k, v in settings.webhook_secrets.items()},
        webhooks=UrllibPoster(),
        mqtt=mqtt,
        worker=name,
        lang=settings.lang,
    )
