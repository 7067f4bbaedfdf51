"""Ingest: MQTT messages in, validated rows committed, acknowledgements out."""

from __future__ import annotations


class IngestError(Exception):
    """Base of ingest failures that stop the consumer (not bad messages: those are dead letters)."""
