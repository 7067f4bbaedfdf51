"""``/api/v1/notifications``: notices of the caller's cases and whether they arrived.

The console lists the failed ones: a person who was never told (their case has
escalated for it). Row-level security limits the rows to the caller's cases.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from gateway.api.deps import Db
from gateway.api.models.notices import NoticePublic, NoticeStatus
from gateway.db.queries.notices import list_notices

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

ROW_ID = Query(ge=1, le=2**63 - 1)


@router.get("", response_model=list[NoticePublic], summary="Notices, newest first")
def notices(
    db: Db,
    response: Response,
    status: Annotated[NoticeStatus | None, Query(description="Only this delivery status")] = None,
    case: Annotated[int | None, ROW_ID] = None,
    cursor: Annotated[int | None, ROW_ID] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[NoticePublic]:
    """Notices and their delivery; ``X-Next-Cursor`` pages on / 通知投递."""
    rows = list_notices(db, status=status, case_id=case, before_id=cursor, limit=limit)
    if len(rows) == limit:
        response.headers["X-Next-Cursor"] = str(rows[-1].id)
    return [NoticePublic.model_validate(r) for r in rows]
