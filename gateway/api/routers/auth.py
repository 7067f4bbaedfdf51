"""``/api/v1/auth``: a person's bearer token for a password, and who the caller is."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from gateway.api.deps import Connection, CurrentPerson, State
from gateway.api.models.auth import MePublic, ScopePublic, TokenPublic
from gateway.api.signin import unauthorized
from gateway.auth.passwords import MAX_LENGTH, dummy_hash, verify_password
from gateway.auth.store import audit, get_account
from gateway.auth.tokens import issue_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/token",
    responses={401: {"description": "Wrong id or password"}, 429: {"description": "Slow down"}},
)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    conn: Connection,
    state: State,
) -> TokenPublic:
    """A bearer token for a person id (``username``) and password / 登录获取令牌.

    Limited per client address (``GRIDWATCH_TOKEN_RATE_PER_MIN``).
    """
    address = request.client.host if request.client else "unknown"
    wait = state.token_limit.hit(address)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many attempts from {address}; retry in {math.ceil(wait)} s / 尝试过多",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    person_id, password = form.username[:64], form.password[:MAX_LENGTH]
    account = get_account(conn, person_id) if "\x00" not in person_id else None
    # Verify against a dummy hash when there is no account, so timing says nothing.
    ok = verify_password(account.password_hash if account else dummy_hash(), password)
    if account is None or account.disabled or not ok:
        raise unauthorized("wrong person id or password, or account disabled / 账号或密码错误")
    audit(conn, account.person_id, "auth.token", account.person_id)
    return TokenPublic(
        access_token=issue_token(state.tokens, account.person_id),
        token_type="bearer",
        expires_in=state.tokens.ttl_s,
    )


@router.get("/me")
def me(principal: CurrentPerson) -> MePublic:
    """The caller, their role and scope / 当前用户."""
    s = principal.scope
    return MePublic(
        subject=principal.subject,
        person_id=principal.person_id,
        name=principal.name,
        role=principal.role,
        scope=ScopePublic(
            all=s.all,
            units=sorted(s.units),
            grids=sorted(s.grids),
            villages=sorted(s.villages),
            departments=sorted(s.departments),
            phones=s.phones,
        ),
    )
