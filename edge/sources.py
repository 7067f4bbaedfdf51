"""Frame sources: file (looping, at the file's own rate), RTSP, HTTP MJPEG and USB.

Each source reads in its own thread and keeps only the newest frame, so a slow
consumer skips frames instead of falling behind. A source that fails reconnects
with exponential backoff (``backoff_delay``) and says so in ``stats()``.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

SourceKind = Literal["file", "rtsp", "http", "usb"]
RTSP_OPTIONS = "rtsp_transport;tcp"


class SourceError(Exception):
    """A stream that cannot be used; the message names the camera and the field."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame. ``index`` is the position in the source (frame number in a
    file; frames since connecting for a live stream); ``n`` counts every frame this
    source has delivered, so it only grows."""

    index: int
    n: int
    ts: datetime
    image: npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SourceStats:
    online: bool
    fps: float
    last_frame_ts: datetime | None
    frames: int
    reconnects: int
    error: str | None


@dataclass(frozen=True)
class StreamSpec:
    kind: SourceKind
    target: str | int


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    jitter: float = 0.1,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before reconnect ``attempt`` (1, 2, ...): base * 2^(attempt-1),
    capped, then spread by +/- ``jitter`` so many cameras do not retry in step."""
    if attempt < 1:
        return 0.0
    delay = min(cap, base * 2.0 ** min(attempt - 1, 32))
    return max(0.0, delay * (1.0 + jitter * (2.0 * rand() - 1.0)))


def parse_stream(url: str, *, camera_id: str = "?", field: str = "stream") -> StreamSpec:
    """Classify a stream URL: rtsp://, http(s)://, file://PATH, a plain path, usb://N or an
    ``asset://NAME`` from the cache. SourceError names the camera and field otherwise."""
    where = f"camera {camera_id}: {field} {url!r}"
    if url.startswith("asset://"):
        from gridwatch.assets import AssetError, resolve_stream_url

        try:
            url = resolve_stream_url(url)
        except AssetError as exc:
            raise SourceError(f"{where}: {exc}") from exc
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "rtsp":
        return StreamSpec("rtsp", url)
    if scheme in ("http", "https"):
        return StreamSpec("http", url)
    if scheme == "usb":
        dev = (parsed.netloc + parsed.path).strip("/")
        if not dev.isdigit():
            raise SourceError(f"{where}: usb:// needs a device index, e.g. usb://0")
        return StreamSpec("usb", int(dev))
    if scheme in ("file", ""):
        path = Path(unquote(parsed.path) if scheme == "file" else url)
        if not path.is_file():
            raise SourceError(f"{where}: file {path} does not exist")
        return StreamSpec("file", str(path))
    raise SourceError(
        f"{where}: scheme {scheme!r} is not one of rtsp, http, https, file, usb, asset"
    )


def _open_capture(spec: StreamSpec, timeout_s: float) -> Any:
    import cv2

    if spec.kind == "rtsp":
        # TCP avoids the smeared frames UDP gives on lossy links; set before opening.
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", RTSP_OPTIONS)
    if spec.kind == "usb":
        return cv2.VideoCapture(int(spec.target))
    ms = int(timeout_s * 1000)
    # Without read/open timeouts a stalled stream blocks read() forever and never
    # looks offline; with them it fails and goes through reconnect.
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    return cv2.VideoCapture(str(spec.target), cv2.CAP_FFMPEG, params)


class FrameSource:
    """Reads one stream in a daemon thread and keeps only the latest frame."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        start_offset_s: float = 0.0,
        loop: bool = True,
        backoff: Callable[[int], float] = backoff_delay,
        field: str = "stream",
        timeout_s: float = 10.0,
    ) -> None:
        self.camera_id = camera_id
        self.url = url
        self.spec = parse_stream(url, camera_id=camera_id, field=field)
        self.start_offset_s = start_offset_s
        self.loop = loop
        self._backoff = backoff
        self._field = field
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._new = threading.Condition(self._lock)
        self._times: collections.deque[float] = collections.deque(maxlen=30)
        self._online = False
        self._frames = 0
        self._reconnects = 0
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"source-{camera_id}", daemon=True)

    # ------------------------------------------------------------------ public

    def start(self) -> FrameSource:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._new:
            self._new.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def latest(self) -> Frame | None:
        with self._lock:
            return self._latest

    def wait_frame(self, after_n: int = 0, timeout: float = 5.0) -> Frame | None:
        """Block until a frame with ``n > after_n`` exists (or timeout); return the latest."""
        deadline = time.monotonic() + timeout
        with self._new:
            while (self._latest is None or self._latest.n <= after_n) and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._new.wait(left)
            return self._latest

    def stats(self) -> SourceStats:
        with self._lock:
            times = list(self._times)
            # Over at least a second: frames buffered during an RTSP reconnect arrive
            # within milliseconds (1,569 "fps" seen in CI, past the contract's 1,000).
            fps = (len(times) - 1) / max(times[-1] - times[0], 1.0) if len(times) > 1 else 0.0
            last = self._latest.ts if self._latest is not None else None
            return SourceStats(
                self._online, round(fps, 2), last, self._frames, self._reconnects, self._error
            )

    # ------------------------------------------------------------------ thread

    def _set_state(self, online: bool, error: str | None) -> None:
        with self._lock:
            self._online, self._error = online, error

    def _publish(self, index: int, image: npt.NDArray[np.uint8]) -> None:
        now = time.monotonic()
        with self._new:
            self._frames += 1
            self._times.append(now)
            self._latest = Frame(index, self._frames, datetime.now(UTC), image)
            self._online, self._error = True, None
            self._new.notify_all()

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            cap = _open_capture(self.spec, self.timeout_s)
            try:
                if not cap.isOpened():
                    raise SourceError(f"cannot open {self._field} {self.url!r}")
                attempt = 0
                if self.spec.kind == "file":
                    self._read_file(cap)
                else:
                    self._read_live(cap)
                if self.spec.kind == "file" and not self.loop:
                    self._set_state(False, "end of file")
                    return
            except SourceError as exc:
                self._set_state(False, f"camera {self.camera_id}: {exc}")
            except Exception as exc:  # a decoder error must not kill the reader thread
                log.exception("camera %s: reader failed", self.camera_id)
                self._set_state(False, f"camera {self.camera_id}: {type(exc).__name__}: {exc}")
            finally:
                cap.release()
            if self._stop.is_set():
                break
            if self.spec.kind == "file" and self._error is None:
                continue  # looped to the end: reopen at once
            attempt += 1
            with self._lock:
                self._reconnects += 1
                error = self._error
            delay = self._backoff(attempt)
            log.warning("%s; retry %d in %.1f s", error, attempt, delay)
            self._stop.wait(delay)
        self._set_state(False, self._error)

    def _read_file(self, cap: Any) -> None:
        import cv2

        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if 0 < fps <= 240 else 25.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        index = 0
        if self.start_offset_s > 0 and self._frames == 0:
            index = int(self.start_offset_s * fps)
            if count > 0:
                index %= count
            if index:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        t0 = time.monotonic()
        played = 0
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok:
                if played == 0:
                    raise SourceError(f"{self._field} {self.url!r} gave no frames")
                return
            # Pace to the file's own rate so a replay behaves like a camera.
            due = t0 + played / fps
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            self._publish(index, np.asarray(image, np.uint8))
            index += 1
            played += 1

    def _read_live(self, cap: Any) -> None:
        index = 0
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok:
                raise SourceError(f"{self._field} {self.url!r} stopped delivering frames")
            self._publish(index, np.asarray(image, np.uint8))
            index += 1
