"""A background thread that can be woken and stopped: the half every loop here shares.

Each long-running part (the edge's couriers and sensors, the gateway's snapshot
receiver) runs one daemon thread that must end within the 10 s a service manager
gives on SIGTERM, and wake at once when there is work instead of sleeping out its
poll interval.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Worker:
    """A named daemon thread running :meth:`_run` until :meth:`stop`.

    ``_stop`` ends the loop; ``_wake`` cuts a wait short. ``stop`` sets both, so a
    loop waiting on either ends at once.
    """

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look now (new work, or a connect)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """End the loop and wait up to ``timeout`` seconds for the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError


class StepWorker(Worker):
    """Repeats :meth:`step`: again at once while it has work, else after a wake or
    ``idle_s``. A failing step is logged and tried again after ``retry_s``, so one
    bad item or a broken connection never ends the thread."""

    idle_s = 0.25
    retry_s = 1.0

    def step(self) -> bool:
        """One round of work; True when it did something (so look again at once)."""
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception:
                log.exception("%s: step failed", self._thread.name)
                busy = False
                self._stop.wait(self.retry_s)
            if not busy:
                self._wake.wait(self.idle_s)
                self._wake.clear()
