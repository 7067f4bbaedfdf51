"""A device the gateway refuses hears why, rate-limited, and its edge backs off and says so."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.feedback import MAX_BACKOFF_S, RefusalState, next_backoff, with_refusal
from gateway.contract import MessageKind, Refusal, Status, parse
from gateway.ingest.feedback import RefusalLimiter, refusal
from gateway.process import Gateway, consumer_config
from gridwatch.settings import Settings
from tests.edge.conftest import Collector
from tests.gateway.conftest import wait_for

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def test_the_gateway_answers_a_device_once_per_interval_counting_what_it_refused() -> None:
    lim = RefusalLimiter(every_s=60)
    assert lim.refused("box-1", 0.0) == 1
    assert [lim.refused("box-1", t) for t in (10.0, 20.0, 59.0)] == [None, None, None]
    assert lim.refused("box-2", 30.0) == 1
    assert lim.refused("box-1", 60.0) == 4


def test_the_edge_backs_off_doubling_until_the_gateway_accepts_it_again() -> None:
    assert next_backoff(0, 60) == 60
    assert next_backoff(60, 60) == 120
    assert next_backoff(3000, 60) == MAX_BACKOFF_S
    state = RefusalState()
    msg = refusal("box-1", "batch", "unknown device 'box-1'", 3, 60, NOW)
    assert state.on_refusal(msg, 100.0) == 60
    assert state.paused(159.0) and not state.paused(160.0)
    assert state.on_refusal(msg, 160.0) == 120
    status = Status.model_validate(
        {"device_id": "box-1", "seq": 0, "ts": NOW, "state": "online", "detail": "ok"}
    )
    told = with_refusal(status, state)
    assert told.detail == "refused by the gateway: unknown device 'box-1'"
    assert told.dropped["refused"] == 6
    state.accepted()
    assert not state.paused(161.0) and with_refusal(status, state).detail == "ok"


def test_an_unregistered_sensor_is_told_why_and_its_edge_backs_off_and_reports_it(
    gw_settings: Settings, mqtt_broker: tuple[str, int], topic_prefix: str, tmp_path: Path
) -> None:
    from edge.agent import EdgeAgent
    from edge.config import parse_edge_config

    gw = Gateway(
        gw_settings,
        registry={"sen-known": None},
        api=False,
        consumer=consumer_config(gw_settings, refusal_every_s=2.0),
    )
    gw.start()
    watch = Collector(mqtt_broker[0], mqtt_broker[1], topic_prefix)
    cfg = parse_edge_config(
        {
            "box_id": "box-r",
            "mqtt": {
                "host": mqtt_broker[0],
                "port": mqtt_broker[1],
                "prefix": topic_prefix,
                "client_id_suffix": "-" + topic_prefix.replace("/", "-"),
            },
            "snapshot_dir": str(tmp_path / "snaps"),
            "state_dir": str(tmp_path / "state"),
            "status_interval_s": 0.5,
            "metrics_port": 0,
            "sensors": [
                {
                    "id": "sen-stray",
                    "sensor": "water_level",
                    "interval_s": 0.2,
                    "source": {"type": "simulated", "start": 0.5, "per_s": 0},
                }
            ],
        }
    )
    agent = EdgeAgent(cfg)
    try:
        assert gw.consumer is not None and gw.consumer.wait_connected(10)
        agent.start()
        pub = agent.publishers()["sen-stray"]
        wait_for(lambda: pub.refusals.reason, what="the gateway's refusal")
        assert pub.refusals.reason == "unknown device 'sen-stray': not in the town's devices"
        answer = watch.wait_for(lambda m: m.topic.endswith("sen-stray/refusal"), timeout=5)
        assert answer is not None
        told = parse(MessageKind.REFUSAL, answer.payload, device_id="sen-stray")
        assert isinstance(told, Refusal) and told.retry_after_s == 2.0
        # Paused: nothing more leaves the box until the back-off ends.
        assert pub.refusals.paused(time.monotonic())
        sent = pub.published
        time.sleep(max(0.0, min(1.0, pub.refusals.until - time.monotonic() - 0.2)))
        assert pub.published == sent
        metrics = agent.metrics.render().decode()
        assert 'gridwatch_edge_refused_total{device="sen-stray"}' in metrics
        assert (
            'gridwatch_edge_refusal_standing{device="sen-stray",reason="unknown device' in metrics
        )

        def says_refused(m: object) -> bool:
            if not getattr(m, "topic", "").endswith("sen-stray/status"):
                return False
            st = parse(MessageKind.STATUS, getattr(m, "payload", b""))
            return isinstance(st, Status) and (st.detail or "").startswith("refused by the gateway")

        assert watch.wait_for(says_refused, timeout=10) is not None
        assert agent.summary()["sensors"]["sen-stray"]["refused"] == pub.refusals.reason
    finally:
        agent.stop()
        watch.close()
        gw.stop()
    stats = gw.consumer.stats if gw.consumer is not None else None
    assert stats is not None and stats.dead_letters >= 1


@pytest.mark.parametrize("bad", [{"retry_after_s": -1}, {"refused": 0}])
def test_a_refusal_with_impossible_numbers_is_refused(bad: dict[str, float]) -> None:
    body = refusal("box-1", None, "x", 1, 60, NOW).model_dump(mode="json") | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        Refusal.model_validate(body)
