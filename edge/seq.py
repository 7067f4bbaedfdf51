"""Per-device sequence numbers that survive a restart (kept in a small file)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class SeqCounter:
    """Hands out 0, 1, 2, ... for one device; the next number is on disk before it is used.

    Numbers may be skipped after a crash (one reserved, never sent), never reused.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            text = path.read_text().strip()
            self._next = int(text) if text else 0
        except FileNotFoundError:
            self._next = 0
        except ValueError as exc:
            raise ValueError(f"sequence file {path} holds {text!r}, not a number") from exc

    @property
    def last(self) -> int:
        """The last number handed out, or -1 before the first."""
        with self._lock:
            return self._next - 1

    def next(self) -> int:
        with self._lock:
            value = self._next
            self._save(value + 1)
            self._next = value + 1
            return value

    def _save(self, value: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w") as f:
            f.write(f"{value}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
