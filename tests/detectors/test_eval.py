"""Evaluation: temporal IoU matching, label files, and rules played over detections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detectors.eval import (
    DEFAULT_LABELS,
    EvalError,
    Interval,
    LabelFile,
    Score,
    evaluate,
    load_detections,
    load_labels,
    match,
    run_task,
    save_detections,
    summary,
    temporal_iou,
)
from detectors.types import Detections

NAMES = ("person", "car")


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ((0, 10), (0, 10), 1.0),
        ((0, 10), (5, 15), 5 / 15),
        ((0, 10), (10, 20), 0.0),
        ((0, 10), (2, 8), 0.6),
        ((0, 0), (0, 0), 0.0),
    ],
)
def test_temporal_iou(a: tuple[float, float], b: tuple[float, float], iou: float) -> None:
    assert temporal_iou(Interval(*a), Interval(*b)) == pytest.approx(iou)


@pytest.mark.parametrize(
    ("detected", "labelled", "expected"),
    [
        ([(0, 10)], [(1, 10)], (1, 0, 0)),
        ([(0, 10)], [(6, 16)], (0, 1, 1)),  # IoU 0.25: no match
        ([], [(0, 10)], (0, 0, 1)),
        ([(0, 10)], [], (0, 1, 0)),
        # One labelled interval, two detections over it: one hit, one false alarm.
        ([(0, 10), (0, 9)], [(0, 10)], (1, 1, 0)),
        # One detection spanning two labels: matches at most one.
        ([(0, 20)], [(0, 12), (14, 20)], (1, 0, 1)),
        # Greedy by IoU: the better pair wins, the other detection still finds its label.
        ([(0, 10), (9, 21)], [(1, 11), (10, 20)], (2, 0, 0)),
    ],
)
def test_match_one_to_one(
    detected: list[tuple[float, float]],
    labelled: list[tuple[float, float]],
    expected: tuple[int, int, int],
) -> None:
    s = match([Interval(*d) for d in detected], [Interval(*g) for g in labelled])
    assert (s.tp, s.fp, s.fn) == expected


def test_score_rates() -> None:
    s = Score(9, 1, 3)
    assert s.precision == 0.9 and s.recall == 0.75
    assert Score(0, 0, 0).precision == 1.0 and Score(0, 0, 2).recall == 0.0


def test_shipped_labels_load_and_have_enough_positives() -> None:
    labels = load_labels(DEFAULT_LABELS)
    positives: dict[str, int] = {}
    for t in labels.tasks:
        positives[t.rule.type] = positives.get(t.rule.type, 0) + len(t.intervals) * t.segments
    assert positives["intrusion"] >= 5 and positives["crowding"] >= 5
    assert positives["parking"] >= 5
    # Some negative time for every rule: a rule that always fires must lose precision.
    for rule in ("intrusion", "crowding", "parking"):
        covered = min(
            sum(b - a + 1 for a, b in t.intervals) / labels.frames
            for t in labels.tasks
            if t.rule.type == rule
        )
        assert covered < 0.9, rule
    # Labels name what defines a situation, never timing thresholds: those are defaults.
    for t in labels.tasks:
        set_fields = t.rule.model_fields_set
        assert not set_fields & {
            "min_on_s",
            "min_off_s",
            "cooldown_s",
            "min_duration_s",
            "stationary_s",
            "min_confidence",
        }, t.name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clip: x\nfps: 10\nframes: 5\nzones: []\ntasks: []", "at least 1 item"),
        (
            "clip: x\nfps: 10\nframes: 5\nzones: []\ntasks:\n"
            "  - {name: a, rule: {type: intrusion, zone: nope}, intervals: []}",
            "zone 'nope' is not one of",
        ),
        (
            "clip: x\nfps: 10\nframes: 5\nzones: []\ntasks:\n"
            "  - {name: a, rule: {type: intrusion}, intervals: [[2, 9]]}",
            "outside frames 0..4",
        ),
        ("clip: [", "is not valid"),
    ],
)
def test_bad_label_file(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "labels.yaml"
    p.write_text(text)
    with pytest.raises(EvalError, match=message):
        load_labels(p)


def person_at(x: float, y: float, score: float = 0.8) -> Detections:
    return Detections(
        np.array([[x - 15, y - 80, x + 15, y]], np.float32),
        np.array([score], np.float32),
        np.array([0], np.int32),
        NAMES,
    )


def synthetic_clip() -> list[Detections]:
    """100 frames: a person walking through the zone for frames 20-49, a second visit 70-89
    (walking, so that track confirmation lets them count)."""
    out = []
    for i in range(100):
        inside = 20 <= i < 50 or 70 <= i < 90
        out.append(
            person_at(110 + 2.5 * ((i - 20) % 50) if inside else 400, 200)
            if inside or i % 2
            else Detections.empty(NAMES)
        )
    return out


LABELS = {
    "clip": "synthetic",
    "fps": 10,
    "frames": 100,
    "zones": [{"name": "z", "polygon": [[100, 100], [200, 100], [200, 300], [100, 300]]}],
    "tasks": [
        {
            "name": "good",
            "rule": {"type": "intrusion", "zone": "z", "per": "zone"},
            "intervals": [[20, 49], [70, 89]],
        },
        {
            "name": "wrong",
            "rule": {"type": "intrusion", "zone": "z", "per": "zone"},
            "intervals": [[0, 9]],
        },
    ],
}


def test_rules_played_over_detections_are_scored() -> None:
    labels = LabelFile.model_validate(LABELS)
    detected, _ = run_task(labels.tasks[0], labels.zones, synthetic_clip(), 10)
    assert len(detected) == 2
    # ByteTrack confirms a new track on its second frame; at a median score of 0.8 the
    # person's track is then confirmed once it has five scores: from frame 25.
    assert detected[0].start == pytest.approx(2.5, abs=0.15)
    assert detected[0].end == pytest.approx(5.0)
    per_rule, per_task = evaluate(labels, synthetic_clip())
    assert (per_task["good"].tp, per_task["good"].fp, per_task["good"].fn) == (2, 0, 0)
    assert (per_task["wrong"].tp, per_task["wrong"].fp, per_task["wrong"].fn) == (0, 2, 1)
    assert summary(per_rule) == {"rules": {"intrusion": {"precision": 0.5, "recall": 0.6667}}}


def test_segments_play_each_cut_as_a_fresh_stream() -> None:
    labels = LabelFile.model_validate(
        {
            **LABELS,
            "tasks": [
                {
                    "name": "s",
                    "segments": 2,
                    "rule": {"type": "intrusion", "zone": "z", "per": "zone"},
                    "intervals": [[20, 49], [70, 89]],
                }
            ],
        }
    )
    detected, labelled = run_task(labels.tasks[0], labels.zones, synthetic_clip(), 10)
    assert [(g.start, g.end) for g in labelled] == [(2.0, 5.0), (7.0, 9.0)]
    assert len(detected) == 2


def test_too_short_clip_is_refused() -> None:
    labels = LabelFile.model_validate(LABELS)
    with pytest.raises(EvalError, match="clip has 50 frames, labels expect 100"):
        evaluate(labels, synthetic_clip()[:50])


def test_detection_cache_round_trip(tmp_path: Path) -> None:
    dets = synthetic_clip()
    path = tmp_path / "d.npz"
    save_detections(path, dets)
    back = load_detections(path)
    assert len(back) == len(dets) and back[0].class_names == NAMES
    for a, b in zip(dets, back, strict=True):
        assert np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.class_id, b.class_id)


@pytest.mark.slow
def test_gridwatch_eval_json_on_shipped_labels(capsys: pytest.CaptureFixture[str]) -> None:
    from gridwatch.cli import main

    assert main(["eval", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    rules = json.loads(last)["rules"]
    assert set(rules) >= {"intrusion", "crowding", "parking", "loitering", "line"}
    for scores in rules.values():
        assert set(scores) == {"precision", "recall", "false_alarms", "false_alarms_per_hour"}
        assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1
    # The issues' acceptance lines, with the production defaults and every shipped label file.
    for rule in ("intrusion", "crowding", "parking", "loitering", "line"):
        assert rules[rule]["precision"] >= 0.9 and rules[rule]["recall"] >= 0.9, rule


def test_gridwatch_eval_names_a_missing_or_bad_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridwatch.cli import main

    monkeypatch.delenv("GRIDWATCH_MODEL_PATH", raising=False)
    assert main(["eval", "--detector", "ultralytics_onnx", "--no-cache"]) == 2
    assert "GRIDWATCH_MODEL_PATH" in capsys.readouterr().err
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert main(["eval", "--model", str(junk), "--no-cache"]) == 2
    assert f"model file {junk} is not a loadable ONNX model" in capsys.readouterr().err
