"""The duty console's pages (``/``, ``/docs``); its files are served under ``/static``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def console() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")


@router.get("/docs")
def docs() -> FileResponse:
    return FileResponse(STATIC_DIR / "docs.html")
