"""Notices as the API shows them: who was told what, and whether it arrived."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from gateway.api.models.base import Public

NoticeStatus = Literal["pending", "delivered", "failed"]


class NoticePublic(Public):
    """``failed``: the last retry passed with a channel silent (docs/notifications.md)."""

    id: int
    status: NoticeStatus
    case_id: int | None
    kind: str
    recipient: str
    title: str
    recipient_name: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
