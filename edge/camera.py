"""One camera on the edge: its frame source, rules, outbox and publisher.

The loop is thin: take the newest frame at the detect rate, detect (through the
box's shared, bounded detector), step the rules, publish what they found. The
decisions (which event id a finding belongs to, what the event says) are pure
functions below it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from detectors.privacy import Box, anonymise, detection_regions
from detectors.types import CameraRules, Detections, Detector, RuleHit
from edge.config import CameraConfig
from edge.courier import Courier
from edge.outbox import Outbox
from edge.publisher import Publisher
from edge.snapshot import EvidenceWriter
from edge.snapshot_queue import PendingSnapshot, SnapshotQueue
from edge.sources import Frame, FrameSource, SourceError
from gateway.contract import Event, Snapshot, Status
from gridwatch.homography import Homography
from gridwatch.town.models import fit_homography

log = logging.getLogger(__name__)

STARTUP_GRACE_S = 10.0


def build_rules(cam: CameraConfig, tz: ZoneInfo, homography: Homography | None) -> CameraRules:
    """The camera's rules; ``homography`` (the camera's own, fitted once by the caller)
    measures the filters given in metres."""
    from detectors.engine import build_camera_rules

    return build_camera_rules(cam.rules_config(), tz, homography)


#: How many detect periods behind the schedule may fall and still be made up.
MAKE_UP_PERIODS = 2


def next_due(due: float, now: float, period: float) -> tuple[float, bool]:
    """When the next detect is due, and whether a frame slot was given up.

    Slots missed by up to ``MAKE_UP_PERIODS`` are made up at once, each on the
    newest frame (the rate holds on average despite a slow detector call); further
    behind, the schedule restarts from now: the missed slots are dropped and
    counted, never queued.
    """
    due += period
    if due < now - MAKE_UP_PERIODS * period:
        return now, True
    return due, False


def pick_snapshot(
    detect: Frame,
    main: Frame | None,
    box: tuple[float, float, float, float] | None,
    max_skew_s: float = 1.0,
) -> tuple[Frame, tuple[float, float, float, float] | None]:
    """The frame to keep as evidence and the box drawn on it.

    The main stream's newest frame when there is one taken within ``max_skew_s`` of
    the detected frame (the box scaled to its resolution); else the detected frame.
    """
    if main is None or abs((main.ts - detect.ts).total_seconds()) > max_skew_s:
        return detect, box
    if box is None:
        return main, None
    dh, dw = detect.image.shape[:2]
    mh, mw = main.image.shape[:2]
    sx, sy = mw / dw, mh / dh
    return main, (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


@dataclass
class EventIds:
    """One event id per situation: new at ``start``, reused for ``update`` and ``end``."""

    open: dict[str, UUID] = field(default_factory=dict)

    def for_hit(self, hit: RuleHit) -> UUID:
        eid = self.open.get(hit.key)
        if eid is None or hit.phase == "start":
            eid = uuid4()
            self.open[hit.key] = eid
        if hit.phase == "end":
            self.open.pop(hit.key, None)
        return eid


def _unit(value: object) -> float | None:
    """A score clamped to 0..1; None for none (or a value that is not a number)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return min(1.0, max(0.0, float(value)))


def hit_to_event(
    hit: RuleHit,
    *,
    device_id: str,
    seq: int,
    event_id: UUID,
    point: tuple[float, float] | None = None,
    snapshot: Snapshot | None = None,
) -> Event:
    """The contract Event for one rule finding."""
    # model_validate: without pydantic's mypy plugin, keyword calls of contract
    # models flag every defaulted field as missing.
    return Event.model_validate(
        {
            "event_id": event_id,
            "device_id": device_id,
            "seq": seq,
            "ts": hit.ts,
            "rule": hit.rule,
            "category": hit.category,
            "severity": hit.severity,
            "phase": hit.phase,
            "cls": hit.cls,
            "score": _unit(hit.score),
            # A confirmed track's median and top scores (detectors.rules.base.track_scores).
            "score_median": _unit(hit.extra.get("median_score")),
            "score_top": _unit(hit.extra.get("top_score")),
            "track_id": hit.track_id if hit.track_id is None or hit.track_id >= 0 else None,
            "zone": hit.zone,
            "box": None if hit.box is None else [round(float(v), 1) for v in hit.box],
            "point": None if point is None else {"lon": point[0], "lat": point[1]},
            "start": hit.start,
            "end": hit.end,
            "snapshot": snapshot,
            "summary": hit.summary,
        }
    )


class CameraRunner:
    """Runs one camera in its own thread; ``error`` is set when its stream is unusable."""

    def __init__(
        self,
        cam: CameraConfig,
        *,
        detector: Detector,
        publisher: Publisher,
        outbox: Outbox,
        courier: Courier,
        snapshot_dir: Path,
        tz: ZoneInfo,
        on_change: Callable[[], None] | None = None,
        snapshots: SnapshotQueue | None = None,
    ) -> None:
        self.cam = cam
        #: Where written snapshots wait for the gateway (None: kept on disk only).
        self.snapshots = snapshots
        self.privacy = cam.privacy.policy()
        self._last_dets: Detections | None = None
        self._clean: tuple[Hashable, npt.NDArray[np.uint8]] | None = None
        self.on_change = on_change
        self._was_online = False
        self._started: float | None = None
        #: Usually a GatedDetector: this camera's motion gate in front of the box's
        #: detector, which also holds the box's bounded detector pool.
        self.detector = detector
        #: Prometheus histogram child for this camera (set by the agent), or None.
        self.detect_hist: Any = None
        self.publisher = publisher
        self.snapshot_dir = snapshot_dir
        self.outbox = outbox
        self.courier = courier
        self.evidence = EvidenceWriter(snapshot_dir, cam.id)
        self.homography = fit_homography(cam.homography) if cam.homography else None
        self.rules = build_rules(cam, tz, self.homography)
        self.ids = EventIds()
        self.error: str | None = None
        self.source: FrameSource | None = None
        self.processed = 0
        self.late = 0
        self.events = 0
        self.detect_ms = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{cam.id}", daemon=True)
        fld, url = cam.detect_stream
        try:
            self.source = FrameSource(cam.id, url, start_offset_s=cam.start_offset_s, field=fld)
        except SourceError as exc:
            self.error = str(exc)
        #: With a sub-stream to detect on, snapshots come from the main stream.
        self.main: FrameSource | None = None
        if cam.substream and self.source is not None:
            try:
                self.main = FrameSource(
                    cam.id, cam.stream, start_offset_s=cam.start_offset_s, field="stream"
                )
            except SourceError as exc:
                log.warning("%s; snapshots come from the sub-stream", exc)

    @property
    def starting(self) -> bool:
        """Opened but no frame yet, for a few seconds: too early to call it on- or offline."""
        if self.source is None or self._started is None:
            return False
        stats = self.source.stats()
        young = time.monotonic() - self._started < STARTUP_GRACE_S
        return stats.frames == 0 and stats.error is None and young

    def start(self) -> None:
        self._started = time.monotonic()
        if self.source is None:
            log.error("%s; the other cameras keep running", self.error)
            return
        self.source.start()
        if self.main is not None:
            self.main.start()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.source is not None:
            self.source.stop()
        if self.main is not None:
            self.main.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        flush = getattr(self.rules, "flush", None)
        if callable(flush) and self.source is not None:
            for hit in flush(datetime.now(UTC)):
                self._emit(hit, None)

    def status(self, sw_version: str, *, stopping: bool = False) -> Status:
        stats = self.source.stats() if self.source is not None else None
        box = self.outbox.stats(self.cam.id)
        online = not stopping and stats is not None and stats.online
        error = self.error or (stats.error if stats is not None else None)
        detail = (
            error
            if error
            else f"detect {self.processed} frames, {self.detect_ms:.1f} ms last, "
            f"{self.events} events"
        )
        return Status.model_validate(
            {
                "device_id": self.cam.id,
                # Status takes the last event's number rather than one of its own, so
                # the event sequence the gateway checks for gaps stays dense.
                "seq": max(0, self.outbox.device_info(self.cam.id)[0] - 1),
                "ts": datetime.now(UTC),
                "state": "online" if online else "offline",
                "fps": stats.fps if stats is not None else None,
                "last_frame_ts": stats.last_frame_ts if stats is not None else None,
                "sw_version": sw_version,
                "clock_offset_s": self.publisher.clock_offset_s,
                "outbox_items": box.items,
                "dropped": {"late_frames": self.late, "publish": self.publisher.dropped}
                | box.dropped
                | (self.snapshots.dropped(self.cam.id) if self.snapshots is not None else {}),
                "detail": ("stopped" if stopping and not error else detail)[:2000],
            }
        )

    # ------------------------------------------------------------------ loop

    def _run(self) -> None:
        assert self.source is not None
        due = time.monotonic()
        last_n = 0
        while not self._stop.is_set():
            # Read each time round: a pushed config may change the rate.
            period = 1.0 / self.cam.detect_fps
            online = self.source.stats().online
            if online != self._was_online:
                # Going on- or offline is news: let the status loop say so now.
                self._was_online = online
                if self.on_change is not None:
                    self.on_change()
            frame = self.source.wait_frame(after_n=last_n, timeout=max(period, 1.0))
            if frame is None or frame.n == last_n:
                continue
            last_n = frame.n
            try:
                self._process(frame)
            except Exception:
                # One bad frame (or a rules bug) must not stop the camera.
                log.exception("camera %s: processing frame %d failed", self.cam.id, frame.index)
            now = time.monotonic()
            due, late = next_due(due, now, period)
            self.late += late
            self._stop.wait(due - now)

    def _process(self, frame: Frame) -> None:
        t0 = time.perf_counter()
        detections = self.detector.detect(frame.image)
        took = time.perf_counter() - t0
        self.detect_ms = took * 1000
        if self.detect_hist is not None:
            self.detect_hist.observe(took)
        self.processed += 1
        self._last_dets = detections
        for hit in self.rules.step(frame.ts, frame.image, detections):
            self._emit(hit, frame)

    def _object_regions(self, detect: Frame, shot: Frame) -> list[Box]:
        """Head and plate bands of the last detections, in the snapshot's pixels."""
        if self._last_dets is None or not len(self._last_dets):
            return []
        dh, dw = detect.image.shape[:2]
        sh, sw = shot.image.shape[:2]
        sx, sy = sw / dw, sh / dh
        return [
            (round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy))
            for x1, y1, x2, y2 in detection_regions(self._last_dets, self.privacy)
        ]

    def _blurred(self, detect: Frame, shot: Frame) -> npt.NDArray[np.uint8]:
        """The shot with faces and plates blurred: before anything is written, only this
        copy reaches the disk. Once per frame: several events of a frame share it."""
        # The policy is part of the key: a push that switches blurring on takes effect
        # on the frame in hand too.
        key = (id(shot.image), shot.n, shot.index, self.privacy)
        if self._clean is not None and self._clean[0] == key:
            return self._clean[1]
        clean = anonymise(shot.image, self.privacy, self._object_regions(detect, shot))
        self._clean = (key, clean)
        return clean

    def reconfigure(
        self, cam: CameraConfig, rules: CameraRules, homography: Homography | None
    ) -> None:
        """Run the next frame on a pushed config (edge/remote_config.py): its zones and
        rules, detect rate, privacy and homography. Attribute writes that the camera
        thread reads once per frame; the stream stays as it is."""
        self.privacy, self.homography = cam.privacy.policy(), homography
        self.cam, self.rules = cam, rules

    def _queue_snapshots(self, event: Event, snaps: list[Snapshot]) -> None:
        if self.snapshots is None:
            return
        for snap, role in zip(snaps, ("frame", "crop"), strict=False):
            self.snapshots.add(
                PendingSnapshot(
                    snap.sha256,
                    self.cam.id,
                    self.snapshot_dir / snap.ref,
                    event.ts,
                    event.event_id,
                    role,
                    event.category,
                )
            )

    def _emit(self, hit: RuleHit, frame: Frame | None) -> None:
        event_id = self.ids.for_hit(hit)
        snapshot = crop = None
        snap_bytes = 0
        snap_path = None
        if frame is not None:
            main = self.main.latest() if self.main is not None else None
            shot, shot_box = pick_snapshot(frame, main, hit.box)
            evidence = self.evidence.write(
                self._blurred(frame, shot),
                shot=(id(shot.image), shot.n, shot.index),
                box=shot_box,
                event_id=event_id,
                ts=hit.ts,
                frame_index=shot.index,
            )
            snapshot, crop = evidence.frame, evidence.crop
            if evidence.fresh:
                # The outbox counts a file once, with the first event that wrote it.
                snap_path = self.snapshot_dir / snapshot.ref
                snap_bytes = snap_path.stat().st_size
        point = None
        if self.homography is not None and hit.box is not None:
            point = self.homography.box_to_map(hit.box)
        event = hit_to_event(
            hit, device_id=self.cam.id, seq=0, event_id=event_id, point=point, snapshot=snapshot
        )
        if crop is not None:
            event = event.model_copy(update={"crop": crop})
        self._queue_snapshots(event, [s for s in (snapshot, crop) if s is not None])
        self.events += 1
        # On disk before it is sent; the courier numbers, sends and forgets it.
        self.outbox.put(
            self.cam.id,
            "event",
            event.model_dump(mode="json", exclude_none=True),
            snapshot_bytes=snap_bytes,
            snapshot_path=snap_path,
        )
        self.courier.wake()
