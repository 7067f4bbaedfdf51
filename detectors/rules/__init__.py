"""Governance rules: pure state machines fed by tracks (or frames), one module per rule."""
