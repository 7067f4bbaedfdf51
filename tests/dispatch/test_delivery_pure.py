"""Delivery's pure parts: back-off, what answers mean, settling, signatures, channels, text."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dispatch.delivery.channels import Channels, ChannelsFile, check_channels, missing_secrets
from dispatch.delivery.retry import (
    Outcome,
    RetryPolicy,
    State,
    delay_s,
    http_outcome,
    puback_outcome,
    settle,
)
from dispatch.delivery.signing import MemorySeenIds, SignatureError, check, sign
from dispatch.delivery.text import NoticeRow, compose
from gridwatch.cli import main
from tests.dispatch.conftest import TownFixture

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, first_delay_s=1.0, factor=2.0, max_delay_s=5.0, jitter=0.5)


@pytest.mark.parametrize(
    ("attempt", "draw", "expected"),
    [(1, 0.0, 1.0), (2, 0.0, 2.0), (3, 0.0, 4.0), (4, 0.0, 5.0), (40, 0.0, 5.0), (3, 0.5, 3.0)],
)
def test_back_off_doubles_up_to_the_cap_and_jitter_only_shortens(
    attempt: int, draw: float, expected: float
) -> None:
    assert delay_s(POLICY, attempt, draw) == pytest.approx(expected)


def test_jittered_delays_spread_within_half_of_the_delay() -> None:
    rng = random.Random(1)
    delays = [delay_s(POLICY, 3, rng.random()) for _ in range(1000)]
    assert 2.0 <= min(delays) < 2.2 and 3.8 < max(delays) <= 4.0


@pytest.mark.parametrize(("attempt", "draw"), [(0, 0.0), (1, 1.0), (1, -0.1)])
def test_back_off_refuses_attempts_and_draws_out_of_range(attempt: int, draw: float) -> None:
    with pytest.raises(ValueError, match="expected"):
        delay_s(POLICY, attempt, draw)


ACK, RETRY, REFUSED = Outcome.ACKNOWLEDGED, Outcome.RETRY, Outcome.REFUSED
#: (HTTP status or PUBACK reason code, what it means): 2xx; rate limits and server
#: errors pass; other 4xx and redirects do not; "no matching subscribers" is retried.
ANSWERS = {
    http_outcome: {
        200: ACK,
        204: ACK,
        503: RETRY,
        429: RETRY,
        408: RETRY,
        401: REFUSED,
        302: REFUSED,
    },
    puback_outcome: {0: ACK, 0x10: RETRY, 0x87: REFUSED, 0x97: RETRY},
}


@pytest.mark.parametrize(
    ("meaning", "code", "outcome"),
    [(f, code, outcome) for f, table in ANSWERS.items() for code, outcome in table.items()],
)
def test_what_an_answer_means(meaning: Any, code: int, outcome: Outcome) -> None:
    assert meaning(code) is outcome


def test_settle_delivers_only_when_every_channel_acknowledged() -> None:
    both = {"mqtt", "webhook:platform"}
    half = settle(both, {"mqtt"}, set(), 1, POLICY, NOW, 0.0)
    assert half.state is State.PENDING and half.next_attempt_at == NOW + timedelta(seconds=1)
    done = settle(both, both, set(), 2, POLICY, NOW, 0.0)
    assert done.state is State.DELIVERED and done.next_attempt_at is None


def test_settle_fails_after_the_last_attempt_and_escalates_only_when_nobody_heard() -> None:
    both = {"mqtt", "webhook:platform"}
    nobody = settle(both, set(), set(), 4, POLICY, NOW, 0.0)
    assert nobody.state is State.FAILED and nobody.escalate
    someone = settle(both, {"mqtt"}, set(), 4, POLICY, NOW, 0.0)
    assert someone.state is State.FAILED and not someone.escalate
    refused = settle(both, set(), both, 1, POLICY, NOW, 0.0)
    assert refused.state is State.FAILED and refused.escalate
    no_channel = settle(set(), set(), set(), 1, POLICY, NOW, 0.0)
    assert no_channel.state is State.FAILED and no_channel.escalate


SECRET = b"s3cret"
BODY = json.dumps({"id": 42, "title": "新案件"}, ensure_ascii=False).encode()


def test_a_signed_delivery_passes_once_and_its_repeat_is_a_duplicate() -> None:
    headers = sign(SECRET, 42, 1_000_000, BODY)
    seen = MemorySeenIds()
    first = check(headers, BODY, SECRET, now=1_000_010, seen=seen)
    assert first.notification_id == 42 and not first.duplicate
    # A retry: same id, a new timestamp and signature.
    again = check(sign(SECRET, 42, 1_000_060, BODY), BODY, SECRET, now=1_000_061, seen=seen)
    assert again.duplicate
    lower = {k.lower(): v for k, v in sign(SECRET, 42, 1_000_000, BODY).items()}
    assert check(lower, BODY, SECRET, now=1_000_000, seen=MemorySeenIds()).notification_id == 42


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": BODY.replace(b"42", b"43")}, "does not match the body and timestamp"),
        ({"secret": b"other"}, "does not match the body and timestamp"),
        ({"now": 1_000_000 + 301}, "expected within 300 s"),
        ({"now": 1_000_000 - 301}, "expected within 300 s"),
        ({"id": "41"}, "does not match the body's id 42"),
        ({"drop": "X-Gridwatch-Signature"}, "header X-Gridwatch-Signature is missing"),
        ({"timestamp": "soon"}, "expected Unix seconds"),
    ],
)
def test_the_receiver_check_refuses_forged_stale_and_mismatched_deliveries(
    change: dict[str, object], reason: str
) -> None:
    headers = sign(SECRET, 42, 1_000_000, BODY)
    if "id" in change:
        headers["X-Gridwatch-Id"] = str(change["id"])
    if "timestamp" in change:
        headers["X-Gridwatch-Timestamp"] = str(change["timestamp"])
    if "drop" in change:
        del headers[str(change["drop"])]
    body = change.get("body", BODY)
    secret = change.get("secret", SECRET)
    now = change.get("now", 1_000_000)
    assert isinstance(body, bytes) and isinstance(secret, bytes) and isinstance(now, int)
    seen = MemorySeenIds()
    with pytest.raises(SignatureError, match=reason):
        check(headers, body, secret, now=now, seen=seen)
    # A refused delivery is not remembered: the genuine one still passes.
    assert not check(sign(SECRET, 42, now, BODY), BODY, SECRET, now=now, seen=seen).duplicate


def test_memory_of_ids_is_bounded() -> None:
    seen = MemorySeenIds(capacity=2)
    assert [seen.first_time(i) for i in (1, 2, 3, 1)] == [True, True, True, True]


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "channels.yaml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "default_webhooks: [sms]\n",
            "default_webhooks",
            "webhook 'sms' is not defined under webhooks",
        ),
        ("retry: {max_attempts: 0}\n", "retry.max_attempts", "greater than or equal to 1"),
        ("retry: {backoff: 2}\n", "retry.backoff", "Extra inputs are not permitted"),
        ("webhooks: {platform: {url: ftp://x}}\n", "webhooks.platform.url", "should match"),
        ("people: {P9: {lang: fr}}\n", "people.P9.lang", "Input should be 'zh' or 'en'"),
        ("people: {NOBODY: {mqtt: false}}\n", "people.NOBODY", "no such person in people.yaml"),
        ("retry: {first_delay_s: 10, max_delay_s: 1}\n", "retry", "is below first_delay_s"),
    ],
)
def test_channels_file_problems_name_the_key_and_value(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    problems, spec = check_channels(_write(tmp_path, text), {"P9": object()})
    assert spec is None
    assert any(p.where.endswith(where) and message in p.message for p in problems), problems
    assert all(p.file.endswith("channels.yaml") for p in problems)


def test_a_person_whose_id_cannot_be_a_topic_level_must_leave_mqtt(tmp_path: Path) -> None:
    problems, _ = check_channels(_write(tmp_path, "{}\n"), {"a/b": object()})
    assert [p.where for p in problems] == ["people.a/b.mqtt"]
    problems, spec = check_channels(_write(tmp_path, "people: {a/b: {mqtt: false}}\n"), {"a/b": 1})
    assert problems == [] and spec is not None


def test_people_get_the_default_webhooks_unless_they_name_their_own() -> None:
    spec = ChannelsFile.model_validate(
        {
            "webhooks": {"platform": {"url": "https://p.example/n"}, "sms": {"url": "http://s/n"}},
            "default_webhooks": ["platform"],
            "people": {"P2": {"webhooks": ["sms"], "mqtt": False, "lang": "en"}},
        }
    )
    channels = Channels(spec, "gw/test")
    assert [c.name for c in channels.for_person("P1")] == ["mqtt", "webhook:platform"]
    assert channels.for_person("P1")[0].target == "gw/test/v1/person/P1/notice"
    assert [(c.name, c.target) for c in channels.for_person("P2")] == [
        ("webhook:sms", "http://s/n")
    ]
    assert channels.lang("P2", "zh") == "en" and channels.lang("P1", "zh") == "zh"
    assert missing_secrets(channels, {"platform": "x"}) == ["sms"]


TZ = ZoneInfo("Asia/Shanghai")


def _row(kind: str, **data: object) -> NoticeRow:
    return NoticeRow(
        id=7,
        case_id=12,
        recipient="P1",
        kind=kind,
        title="新案件 #12：火情烟雾",
        body="New case #12: fire or smoke",
        data=dict(data),
        created_at=NOW,
        case_status="assigned",
        unit_id="V01-G01-U01",
        accept_by=datetime(2026, 12, 4, 2, 15, tzinfo=UTC),
        resolve_by=datetime(2026, 12, 4, 6, 0, tzinfo=UTC),
    )


def test_a_notice_names_case_unit_local_deadline_and_what_is_expected() -> None:
    msg = compose(_row("assigned"), TZ, lambda unit: "一号单元", "zh")
    assert msg.id == 7 and msg.case_id == 12 and msg.expected == "accept"
    assert msg.text == (
        "新案件 #12：火情烟雾。单元：一号单元。期限：2026-12-04 10:15。"
        "请于 2026-12-04 10:15 前受理。"
    )
    assert msg.text_en == (
        "New case #12: fire or smoke. Unit: 一号单元 (V01-G01-U01)."
        " Deadline: 2026-12-04 10:15 (Asia/Shanghai)."
        " Accept it by 2026-12-04 10:15 (Asia/Shanghai)."
    )
    assert msg.deadline is not None and msg.deadline.utcoffset() == timedelta(hours=8)


def test_a_reminder_carries_its_own_deadline_and_a_pulled_in_person_is_asked_to_attend() -> None:
    due = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    reminder = compose(_row("reminder_resolve", deadline=due.isoformat()), TZ, lambda u: None, "en")
    assert reminder.deadline == due and "请于 2026-12-05 09:00 前办结" in reminder.text
    assert reminder.lang == "en" and reminder.unit is not None
    assert reminder.unit.name == "V01-G01-U01"
    pulled = compose(_row("pulled_in"), TZ, lambda u: "一号单元", "zh")
    assert pulled.expected == "attend" and pulled.text.endswith("请到场协助处置。")


def test_deliver_refuses_to_start_when_a_webhook_has_no_secret(
    zhongmen: TownFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config"
    shutil.copytree(zhongmen.config_dir, config)
    (config / "channels.yaml").write_text(
        "mqtt: {enabled: false}\nwebhooks: {sms: {url: 'http://127.0.0.1:9/n'}}\n"
        "default_webhooks: [sms]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GRIDWATCH_WEBHOOK_SECRETS", '{"platform": "x"}')
    # No database is reached: the check comes first.
    code = main(
        ["deliver", "--once", "--config-dir", str(config), "--database-url", "postgresql://"]
    )
    out = capsys.readouterr().out
    assert code == 2
    assert "GRIDWATCH_WEBHOOK_SECRETS" in out and "['sms']" in out
