"""A confirmed track's median and top scores travel from the engine to ``events.extra``.

The detector engine puts them in the hit's ``extra``; the edge's ``hit_to_event`` makes
them the contract's optional ``score_median`` and ``score_top``; the gateway stores them
in ``events.extra`` on the fast path and on the contract's path alike. A gateway that does
not know the fields keeps them as unknown ones (contract 1.x).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from detectors.engine import build_camera_rules
from detectors.types import Detections, RuleHit
from edge.camera import hit_to_event
from gateway.contract import Event, parse
from gateway.ingest.fastpath import FastEvent, parse_event
from gridwatch.camera_rules import CameraRulesConfig
from tests.gateway.fastpath_support import classify_both, compare_classified, received

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
FPS = 10


def _walker_hits() -> list[RuleHit]:
    """A person at ~0.6 to ~0.72 walking across a yard for 5 s, through the engine."""
    cfg = CameraRulesConfig.model_validate(
        {
            "zones": [{"name": "yard", "polygon": [[0, 100], [760, 100], [760, 500], [0, 500]]}],
            "rules": [{"type": "intrusion", "zone": "yard"}],
            "frame_rate": FPS,
        }
    )
    engine = build_camera_rules(cfg, ZoneInfo("Asia/Shanghai"))
    hits: list[RuleHit] = []
    for i in range(5 * FPS):
        x = 40 + 12 * i
        dets = Detections(
            np.asarray([(x - 20, 330.0, x + 20, 450.0)], np.float32),
            np.asarray([0.6 + 0.12 * (i % 2)], np.float32),
            np.zeros(1, np.int32),
            ("person",),
        )
        hits += engine.step(T0 + timedelta(seconds=i / FPS), None, dets)
    return hits + engine.flush(T0 + timedelta(seconds=5))


def _payload(hit: RuleHit) -> bytes:
    event = hit_to_event(hit, device_id="cam-001", seq=1, event_id=uuid.uuid4())
    return json.dumps(event.model_dump(mode="json", exclude_none=True)).encode()


def test_a_confirmed_tracks_scores_reach_events_extra_on_both_paths() -> None:
    start = next(h for h in _walker_hits() if h.phase == "start")
    median, top = start.extra["median_score"], start.extra["top_score"]
    assert isinstance(median, float) and isinstance(top, float)
    assert 0.6 <= median <= top == pytest.approx(0.72, abs=1e-3)
    payload = _payload(start)

    contract = parse("event", payload, device_id="cam-001")
    assert isinstance(contract, Event)
    assert (contract.score_median, contract.score_top) == (median, top)
    fast = parse_event(payload, "cam-001")
    assert fast is not None, "the fast path must model the scores, not fall back"
    (item,) = fast.items
    assert isinstance(item, FastEvent) and (item.score_median, item.score_top) == (median, top)

    normal, slow = classify_both([received("event", "cam-001", payload)])
    diff = compare_classified(normal, slow, payload)
    assert not diff.problems, diff.problems
    (row,) = normal.event_rows()
    assert row.extra is not None
    stored = json.loads(row.extra)
    assert (stored["score_median"], stored["score_top"]) == (median, top)


def test_an_event_without_scores_stores_none_of_them() -> None:
    hit = next(h for h in _walker_hits() if h.phase == "start")
    bare = replace(hit, extra={})
    normal, _ = classify_both([received("event", "cam-001", _payload(bare))])
    (row,) = normal.event_rows()
    assert "score_median" not in json.loads(row.extra or "{}")


@pytest.mark.parametrize("field", ["score_median", "score_top"])
def test_a_score_outside_0_to_1_is_refused_naming_the_field(field: str) -> None:
    hit = next(h for h in _walker_hits() if h.phase == "start")
    body = json.loads(_payload(hit)) | {field: 1.5}
    payload = json.dumps(body).encode()
    assert parse_event(payload, "cam-001") is None  # the contract's path says why
    with pytest.raises(ValueError, match=field):
        parse("event", payload, device_id="cam-001")
