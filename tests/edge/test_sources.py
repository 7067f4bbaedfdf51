"""Frame sources: stream URLs, reconnect backoff, and a file replayed like a camera."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edge.sources import FrameSource, SourceError, backoff_delay, parse_stream
from gridwatch.services import free_port


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (500, 30.0)],
)
def test_backoff_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, base=0.5, cap=30.0, jitter=0.0) == expected


def test_backoff_jitter_stays_within_bounds() -> None:
    assert backoff_delay(3, base=1.0, jitter=0.1, rand=lambda: 1.0) == pytest.approx(4.4)
    assert backoff_delay(3, base=1.0, jitter=0.1, rand=lambda: 0.0) == pytest.approx(3.6)


def test_stream_urls_are_classified(tmp_path: Path) -> None:
    clip = tmp_path / "a clip.avi"
    clip.write_bytes(b"x")
    assert parse_stream("rtsp://10.0.0.5:554/sub").kind == "rtsp"
    assert parse_stream("http://cam/video.mjpg").kind == "http"
    assert parse_stream("https://cam/video.mjpg").kind == "http"
    assert parse_stream("usb://1").target == 1
    assert parse_stream(f"file://{clip}").target == str(clip)
    assert parse_stream(str(clip)).kind == "file"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "file:///no/such/clip.avi",
            r"camera cam-9: substream 'file:///no/such/clip.avi'.*"
            r"does not exist",
        ),
        ("ftp://cam/clip", r"camera cam-9: substream 'ftp://cam/clip'.*scheme 'ftp'"),
        ("usb://front", r"camera cam-9: substream 'usb://front'.*device index"),
        ("asset://vtest.avi", r"camera cam-9: substream 'asset://vtest.avi'.*assets fetch"),
    ],
)
def test_bad_stream_names_camera_and_field(
    url: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDWATCH_CACHE_DIR", str(tmp_path))  # empty cache: asset missing
    with pytest.raises(SourceError, match=message):
        parse_stream(url, camera_id="cam-9", field="substream")


@pytest.mark.slow
def test_file_replays_at_its_rate_from_the_offset_and_loops(vtest_clip: Path) -> None:
    # The clip is 150 frames at 10 fps; start 14 s in, so it wraps after one second.
    src = FrameSource("cam-1", str(vtest_clip), start_offset_s=14.0).start()
    try:
        first = src.wait_frame(timeout=10)
        assert first is not None and first.index == 140
        time.sleep(2.0)
        latest = src.latest()
        assert latest is not None
        # Replayed near 10 fps, not as fast as it decodes, and wrapped round to the start.
        assert 10 <= latest.n - first.n <= 30
        assert latest.index < 140
        stats = src.stats()
        assert stats.online and 5 <= stats.fps <= 15 and stats.error is None
    finally:
        src.stop()
    assert not src.stats().online


@pytest.mark.slow
def test_unreachable_stream_goes_offline_and_keeps_retrying() -> None:
    port = free_port()  # nothing listens there
    src = FrameSource(
        "cam-2", f"http://127.0.0.1:{port}/cam.mjpg", backoff=lambda attempt: 0.05
    ).start()
    try:
        deadline = time.monotonic() + 20
        while src.stats().reconnects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = src.stats()
        assert stats.reconnects >= 2
        assert not stats.online and src.latest() is None
        assert stats.error is not None and "cam-2" in stats.error and "stream" in stats.error
    finally:
        src.stop()


class MjpegServer:
    """A real HTTP MJPEG camera on loopback (multipart/x-mixed-replace), 10 frames/s."""

    def __init__(self, jpeg: bytes, port: int = 0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        halt = self.halt = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=frame")
                self.end_headers()
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                try:
                    while not halt.is_set():
                        self.wfile.write(head % len(jpeg) + jpeg + b"\r\n")
                        halt.wait(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.halt.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _until(pred: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_mjpeg_camera_goes_offline_when_it_stops_and_back_when_it_returns() -> None:
    import cv2

    jpeg = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
    cam = MjpegServer(jpeg)
    src = FrameSource(
        "cam-h", f"http://127.0.0.1:{cam.port}/cam.mjpg", backoff=lambda a: 0.2, timeout_s=3
    ).start()
    back: MjpegServer | None = None
    try:
        first = src.wait_frame(timeout=15)
        assert first is not None and first.image.shape == (240, 320, 3)
        assert src.stats().online
        cam.close()
        assert _until(lambda: not src.stats().online, 15), "still online after the stream ended"
        down = src.stats()
        assert down.error is not None and "cam-h" in down.error
        seen = src.latest()
        back = MjpegServer(jpeg, port=cam.port)
        assert _until(lambda: src.stats().online, 15), "did not reconnect"
        newer = src.wait_frame(after_n=seen.n if seen else 0, timeout=10)
        assert newer is not None and seen is not None and newer.n > seen.n
        assert src.stats().reconnects >= 1
    finally:
        src.stop()
        if back is not None:
            back.close()


def test_a_burst_of_buffered_frames_is_not_reported_as_a_frame_rate() -> None:
    # After an RTSP reconnect the buffered frames arrive within milliseconds; the
    # status must still carry a frame rate the contract accepts (at most 1,000).
    src = FrameSource("cam-1", "rtsp://127.0.0.1:1/none")
    now = time.monotonic()
    src._times.extend(now + i * 0.0005 for i in range(30))
    assert src.stats().fps <= 30
