"""Subcommand groups of the ``gridwatch`` CLI, one module each."""
