"""Logging set-up for every command: text lines, or one JSON object per line.

``GRIDWATCH_LOG_FORMAT=json`` gives lines a log shipper parses without patterns. A
call that names what it is about passes the ids as ``extra``, e.g.
``log.warning("...", extra={"case_id": 7})``; they become keys of the JSON line
(and are left out of text lines, whose message already says them).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

#: The ``extra`` keys a JSON line carries when the log call passes them.
ID_KEYS = ("event_id", "case_id", "device_id", "notice_id")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC), level, logger, message, the ids, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ID_KEYS:
            value = record.__dict__.get(key)
            if value is not None:
                # UUIDs and other ids as text; numbers (case ids) stay numbers.
                out[key] = value if isinstance(value, int | str) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(
    level: int | str = logging.INFO, log_format: Literal["text", "json"] | None = None
) -> None:
    """Configure the root logger once per process; ``log_format`` None reads the settings."""
    if log_format is None:
        from gridwatch.settings import get_settings

        log_format = get_settings().log_format
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
