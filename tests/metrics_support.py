"""Scrape a process's ``/metrics`` and read samples by name and labels."""

from __future__ import annotations

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
