"""JSON log lines: one object per record, with the ids the call passed and nothing else."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from gridwatch.logs import TEXT_FORMAT, JsonFormatter


@pytest.fixture
def stream() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"gridwatch.test.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, out, handler
    finally:
        logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_carries_level_logger_message_and_the_ids_passed(
    stream: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, _ = stream
    event = uuid.uuid4()
    logger.warning(
        "案件 %d 升级 / case escalated",
        7,
        extra={"case_id": 7, "event_id": event, "device_id": "cam-001"},
    )
    logger.info("no ids here")
    first, second = lines(out)
    assert first["level"] == "WARNING" and first["logger"] == logger.name
    assert first["message"] == "案件 7 升级 / case escalated"
    assert (first["case_id"], first["event_id"], first["device_id"]) == (7, str(event), "cam-001")
    assert str(first["ts"]).endswith("+00:00")
    assert set(second) == {"ts", "level", "logger", "message"}


def test_an_exception_stays_inside_its_one_line(
    stream: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, _ = stream
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logger.exception("failed", extra={"device_id": "box-7"})
    assert len(out.getvalue().splitlines()) == 1
    [rec] = lines(out)
    assert "ValueError: bad\nvalue" in str(rec["exc"])
    assert rec["device_id"] == "box-7"


def test_text_lines_stay_text(stream: tuple[logging.Logger, io.StringIO, logging.Handler]) -> None:
    logger, out, handler = stream
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logger.info("hello %s", "world", extra={"case_id": 3})
    assert out.getvalue().rstrip().endswith(f"INFO {logger.name}: hello world")
