"""Scrape a process's ``/metrics`` and read samples by name and labels; run a command with
JSON logs and find the metrics URL it logged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape's samples: ``value("name", label="x")``, 0 for a sample not shown."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str) -> bool:
        return any(n == name for n, _ in self.samples)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """Every sample of ``name`` by the value of its ``label``."""
        out = {}
        for (n, labels), v in self.samples.items():
            found = dict(labels)
            if n == name and label in found:
                out[found[label]] = v
        return out


def scrape(url: str) -> Scrape:
    res = httpx.get(url, timeout=10)
    res.raise_for_status()
    assert res.headers["content-type"].startswith("text/plain"), res.headers
    return Scrape(res.text)


def service_env(
    db: str, broker: tuple[str, int], prefix: str, group: str, config: Path
) -> dict[str, str]:
    """The settings a service process of one test runs with: its database, broker, topic
    prefix, shared-subscription group and town, and metrics on any free port."""
    return {
        "GRIDWATCH_DATABASE_URL": db,
        "GRIDWATCH_MQTT_HOST": broker[0],
        "GRIDWATCH_MQTT_PORT": str(broker[1]),
        "GRIDWATCH_TOPIC_PREFIX": prefix,
        "GRIDWATCH_SHARE_GROUP": group,
        "GRIDWATCH_CONFIG_DIR": str(config),
        "GRIDWATCH_METRICS_PORT": "0",
    }


class Service:
    """One command with JSON logs; its stderr read line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "GRIDWATCH_LOG_FORMAT": "json",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridwatch.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line]

    def metrics_url(self, timeout_s: float = 60) -> str:
        """The URL the process logged for its metrics server."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for rec in self.records():
                if rec["message"].startswith("metrics on "):
                    return str(rec["message"].removeprefix("metrics on "))
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.lines}"
            time.sleep(0.05)
        raise AssertionError(f"no metrics line within {timeout_s} s: {self.lines}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
