"""Subcommand groups of the ``gridwatch`` CLI, one module each."""

from __future__ import annotations

import argparse
from typing import TypeAlias

#: What each module's ``register(sub)`` receives: the CLI's subcommand table.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
