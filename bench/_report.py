"""How a benchmark prints its result: each figure on a line, then the JSON line last."""

from __future__ import annotations

import json
from typing import Any


def emit(result: dict[str, Any], json_only: bool) -> None:
    """The figures one per line (unless ``json_only``), then the whole as one JSON line."""
    if not json_only:
        for key, value in result.items():
            print(f"{key}: {value}")
    print(json.dumps(result, ensure_ascii=False))
