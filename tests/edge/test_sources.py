"""Frame sources: stream URLs, reconnect backoff, and a file replayed like a camera."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.sources import FrameSource, SourceError, backoff_delay, parse_stream
from tests.conftest import free_port


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
