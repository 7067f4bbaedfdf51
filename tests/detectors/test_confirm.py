"""Track confirmation: a still thing read as a person at about 0.5 raises nothing, a walker
at about 0.65 does; an event says its track's median and top scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from detectors.confirm import Confirmation, confirms, median_of
from detectors.engine import build_camera_rules
from detectors.tracking import Track
from detectors.types import Detections, RuleHit
from gridwatch.camera_objects import ClassConfirm, ConfirmConfig
from gridwatch.camera_rules import CameraRulesConfig

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
FPS = 10
NAMES = ("person", "car")
YARD = {"name": "yard", "polygon": [[0, 100], [760, 100], [760, 500], [0, 500]]}
SIGN_POST = (300.0, 200.0, 330.0, 300.0)  # fixed, inside the yard


def _frames(seconds: float, walker: bool, seed: int = 7) -> list[Detections]:
    """A sign post at ~0.5 in every frame; with ``walker``, a person at ~0.65 crossing the
    yard from x=40 to x=700 over the first 20 s."""
    rng = np.random.default_rng(seed)
    out = []
    n = int(seconds * FPS)
    for i in range(n):
        boxes = [SIGN_POST]
        scores = [0.5 + rng.uniform(-0.05, 0.05)]
        if walker and i < 20 * FPS:
            x = 40 + 660 * i / (20 * FPS)
            boxes.append((x - 20, 330.0, x + 20, 450.0))
            scores.append(0.65 + rng.uniform(-0.05, 0.05))
        out.append(
            Detections(
                np.asarray(boxes, np.float32),
                np.asarray(scores, np.float32),
                np.zeros(len(boxes), np.int32),
                NAMES,
            )
        )
    return out


def _play(frames: list[Detections], **objects: Any) -> list[RuleHit]:
    cfg = CameraRulesConfig.model_validate(
        {
            "zones": [YARD],
            "rules": [{"type": "intrusion", "zone": "yard"}],
            "objects": objects,
            "frame_rate": FPS,
        }
    )
    engine = build_camera_rules(cfg, TZ)
    hits: list[RuleHit] = []
    for i, dets in enumerate(frames):
        hits += engine.step(T0 + timedelta(seconds=i / FPS), None, dets)
    return hits + engine.flush(T0 + timedelta(seconds=len(frames) / FPS))


def _on_sign_post(hit: RuleHit) -> bool:
    return hit.box is not None and abs(hit.box[0] - SIGN_POST[0]) < 5


def test_a_still_low_scoring_person_for_a_minute_raises_nothing() -> None:
    assert _play(_frames(60, walker=False)) == []


def test_without_confirmation_the_same_sign_post_is_an_intrusion() -> None:
    # What the defaults are for: the detector's own cut-off lets it through.
    hits = _play(_frames(60, walker=False), confirm={"enabled": False})
    assert [h.phase for h in hits] == ["start", "end"]
    assert _on_sign_post(hits[0])


def test_a_walker_beside_the_sign_post_raises_one_intrusion_with_its_scores() -> None:
    hits = _play(_frames(60, walker=True))
    starts = [h for h in hits if h.phase == "start"]
    assert len(starts) == 1
    assert not any(_on_sign_post(h) for h in hits)
    start = starts[0]
    assert start.rule == "intrusion" and start.cls == "person"
    # Confirmed within its first second or so, at the left of the yard.
    assert start.start is not None and (start.start - T0).total_seconds() < 2.0
    median, top = start.extra["median_score"], start.extra["top_score"]
    assert isinstance(median, float) and isinstance(top, float)
    assert 0.6 <= median <= top <= 0.7


@pytest.mark.parametrize(
    ("rule", "median", "moved", "confirmed"),
    [
        (ClassConfirm(threshold=0.6, window_s=0.4), None, True, False),  # too few scores yet
        (ClassConfirm(threshold=0.6, window_s=0.4), 0.59, True, False),
        (ClassConfirm(threshold=0.6, window_s=0.4), 0.6, False, True),
        (ClassConfirm(threshold=0.6, window_s=0.4, min_move=1.0), 0.9, False, False),
        (ClassConfirm(threshold=0.6, window_s=0.4, min_move=1.0), 0.9, True, True),
        # Confident enough to count standing still.
        (
            ClassConfirm(threshold=0.6, window_s=0.4, min_move=1.0, still_threshold=0.8),
            0.8,
            False,
            True,
        ),
        (
            ClassConfirm(threshold=0.6, window_s=0.4, min_move=1.0, still_threshold=0.8),
            0.7,
            False,
            False,
        ),
    ],
)
def test_confirms(rule: ClassConfirm, median: float | None, moved: bool, confirmed: bool) -> None:
    assert confirms(rule, median, moved) is confirmed


def test_median_over_the_last_seconds_only() -> None:
    # (seconds, score): 0.1 s apart span 0.1 s, short of a 0.2 s window.
    assert median_of([(0.0, 0.9), (0.1, 0.9)], 0.2) is None
    assert median_of([(0.0, 0.1), (0.1, 0.9), (0.2, 0.8), (0.3, 0.2)], 0.2) == pytest.approx(0.8)
    # At 5 fps the same window holds two frames' scores, not three.
    assert median_of([(0.0, 0.1), (0.2, 0.9), (0.4, 0.8)], 0.2) == pytest.approx(0.85)


def _confirmed_at(fps: float, seconds: float = 3.0) -> float:
    """Seconds until the default person confirmation takes a walker at ``fps``."""
    conf = Confirmation(ConfirmConfig.model_validate({}))
    for i in range(int(seconds * fps)):
        ts = T0 + timedelta(seconds=i / fps)
        # Walking 40 px a second (a quarter of its 100 px height in 0.6 s), scores 0.65.
        if conf.update(ts, [_track(1, 0.65, 100 + 40 * i / fps)])[0].confirmed:
            return i / fps
    raise AssertionError(f"not confirmed in {seconds} s at {fps} fps")


def test_a_walker_is_confirmed_as_soon_at_5_fps_as_at_10() -> None:
    # A window in frames took twice as long at 5 fps (the edge's default detect rate).
    assert _confirmed_at(5) == pytest.approx(_confirmed_at(10), abs=0.21)
    assert _confirmed_at(10) <= 1.0


def _track(tid: int, score: float, x: float, cls: str = "person") -> Track:
    return Track(tid, cls, score, (x - 20, 100, x + 20, 200), T0, T0, score)


def test_one_high_score_does_not_confirm_and_confirmation_sticks() -> None:
    conf = Confirmation(
        ConfirmConfig.model_validate({"classes": {"person": {"threshold": 0.6, "window_s": 0.2}}})
    )
    seen = [
        conf.update(T0 + timedelta(seconds=i / FPS), [_track(1, s, 100)])[0]
        for i, s in enumerate([0.9, 0.3, 0.4, 0.7, 0.7, 0.2, 0.1, 0.1])
    ]
    assert [t.confirmed for t in seen] == [False, False, False, False, True, True, True, True]
    assert seen[4].median_score == pytest.approx(0.7)


def test_a_class_asked_to_move_is_confirmed_only_after_moving() -> None:
    conf = Confirmation(
        ConfirmConfig.model_validate(
            {"classes": {"person": {"threshold": 0.5, "window_s": 0.1, "min_move": 0.5}}}
        )
    )
    still = [
        conf.update(T0 + timedelta(seconds=i / FPS), [_track(1, 0.9, 100)])[0] for i in range(20)
    ]
    assert not any(t.confirmed for t in still)
    # 50 px is half of its 100 px height.
    assert conf.update(T0 + timedelta(seconds=2), [_track(1, 0.9, 150)])[0].confirmed


def test_a_still_track_that_took_a_passers_scores_counts_no_more_once_back() -> None:
    # An id swap: the sign post's track (0.5, still) takes a walker's boxes (0.8, moving)
    # for a second, then returns to the sign.
    conf = Confirmation(ConfirmConfig.model_validate({}))
    path = [(0.5, 100.0)] * 20 + [(0.8, 100.0 + 10 * k) for k in range(10)] + [(0.5, 100.0)] * 20
    seen = [
        conf.update(T0 + timedelta(seconds=i / FPS), [_track(1, s, x)])[0]
        for i, (s, x) in enumerate(path)
    ]
    assert not any(t.confirmed for t in seen[:20])
    assert any(t.confirmed for t in seen[20:30])
    assert not any(t.confirmed for t in seen[-10:])


def test_a_confirmed_walker_scoring_low_away_from_its_start_still_counts() -> None:
    conf = Confirmation(ConfirmConfig.model_validate({}))
    path = [(0.65, 100.0 + 10 * k) for k in range(20)] + [(0.4, 300.0)] * 20
    seen = [
        conf.update(T0 + timedelta(seconds=i / FPS), [_track(1, s, x)])[0]
        for i, (s, x) in enumerate(path)
    ]
    assert all(t.confirmed for t in seen[10:])


def test_classes_given_keep_the_other_defaults() -> None:
    cfg = ConfirmConfig.model_validate({"classes": {"dog": {"threshold": 0.9}}})
    assert cfg.for_class("dog").threshold == 0.9
    assert cfg.for_class("person") == ConfirmConfig.model_validate({}).for_class("person")


@pytest.mark.parametrize(
    ("confirm", "message"),
    [
        ({"classes": {"person": {"treshold": 0.6}}}, "treshold"),
        ({"classes": {"person": {"threshold": 1.5}}}, "less than or equal to 1"),
        ({"classes": {"person": {"window_s": -1}}}, "greater than or equal to 0"),
        # The old frame count names itself and says what replaced it.
        ({"classes": {"person": {"frames": 5}}}, "frames 5 is no longer read.*window_s"),
        ({"enabeld": False}, "enabeld"),
    ],
)
def test_bad_confirm_config_is_refused(confirm: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CameraRulesConfig.model_validate({"objects": {"confirm": confirm}})
