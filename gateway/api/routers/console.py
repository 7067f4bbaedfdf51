"""The duty console's pages (``/``, ``/docs``) and its one message catalogue; its files
are served under ``/static``."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from dispatch.lifecycle import Status
from gateway.api.deps import SettingsDep
from gridwatch.domain import CATEGORY_NAMES

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
LANGS = ("zh", "en")

router = APIRouter(include_in_schema=False)


@router.get("/")
def console() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")


@router.get("/docs")
def docs() -> FileResponse:
    return FileResponse(STATIC_DIR / "docs.html")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """The console's text per language: ``messages.json``, plus the category names,
    which ``gridwatch.domain`` defines once. Every key is in both languages."""
    text: dict[str, dict[str, str]] = json.loads(
        (STATIC_DIR / "messages.json").read_text(encoding="utf-8")
    )
    for cat, names in CATEGORY_NAMES.items():
        for lang, name in zip(LANGS, names, strict=True):
            text[lang][f"cat.{cat}"] = name
    missing = {lang: sorted(set().union(*text.values()) - set(text[lang])) for lang in LANGS}
    if any(missing.values()):
        raise ValueError(f"messages.json: keys missing per language: {missing}")
    unknown = {s.value for s in Status} - {
        k[len("status.") :] for k in text["en"] if k.startswith("status.")
    }
    if unknown:
        raise ValueError(f"messages.json: no text for case statuses {sorted(unknown)}")
    return text


@router.get("/console/messages.json")
def messages(settings: SettingsDep) -> dict[str, Any]:
    """The catalogue, the default language (``GRIDWATCH_LANG``) and the town's time zone."""
    return {"lang": settings.lang, "tz": settings.tz, "messages": catalogue()}
