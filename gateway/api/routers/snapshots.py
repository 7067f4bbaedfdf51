"""``/api/v1/snapshots/{sha256}``: an evidence JPEG, by the hash its event carries."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response

from gateway.api import audit
from gateway.api.deps import CurrentPerson, Db, SettingsDep
from gateway.db.queries.snapshots import get_snapshot
from gateway.evidence.stores import open_store

router = APIRouter(prefix="/api/v1/snapshots", tags=["snapshots"])

Sha256 = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the JPEG / 快照哈希")
]


@router.get(
    "/{sha256}",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The JPEG, as the edge took it"},
        404: {"description": "No such snapshot, not yet received, or outside your scope"},
    },
)
def snapshot(
    db: Db, principal: CurrentPerson, settings: SettingsDep, request: Request, sha256: Sha256
) -> Response:
    """The JPEG whose SHA-256 is ``sha256``; every view is in the audit log / 快照 (留痕)."""
    row = get_snapshot(db, sha256)
    data = None if row is None else open_store(settings).get(sha256)
    if row is None or data is None:
        raise HTTPException(404, f"snapshot {sha256} not found / 未找到快照")
    if hashlib.sha256(data).hexdigest() != sha256:
        # The file changed since it was verified on receipt: not evidence any more.
        raise HTTPException(500, f"snapshot {sha256}: stored file fails its hash / 快照校验失败")
    audit.record(db, principal, "snapshot.view", f"snapshot:{sha256}", request)
    return Response(
        data,
        media_type="image/jpeg",
        headers={"ETag": f'"{sha256}"', "Cache-Control": "private, no-store"},
    )
