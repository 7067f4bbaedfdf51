"""Ingest: MQTT messages in, validated rows committed, acknowledgements out."""
