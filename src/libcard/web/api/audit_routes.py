"""The audit log (B4) and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from libcard.access import service as access
from libcard.access.models import ApiToken
from libcard.access.scopes import Scope
from libcard.audit.service import events
from libcard.errors import InvalidInput, NotFound
from libcard.patrons.service import get_patron
from libcard.policy.models import Institution
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath, IdQuery

router = APIRouter()


@router.get("/audit", response_model=list[s.AuditOut], tags=["audit"])
async def audit(
    api: ApiDep,
    patron_id: IdQuery = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[s.AuditOut]:
    """Newest first; page with `before_id` = the last id seen."""
    async with api.unit(Scope.AUDIT_READ, readonly=True) as ctx:
        if patron_id is not None:
            await get_patron(ctx, patron_id)
        found = await events(
            ctx, patron_id=patron_id, action=action, before_id=before_id, limit=limit
        )
        return [s.AuditOut.model_validate(e, from_attributes=True) for e in found]


@router.post("/tokens", response_model=s.TokenOut, status_code=201, tags=["tokens"])
async def create_token(api: ApiDep, body: s.TokenIn) -> s.TokenOut:
    """Make an API token; its secret is in this answer only."""
    async with api.unit(Scope.TOKENS_WRITE) as ctx:
        wanted = body.institution_id
        if wanted is not None and await ctx.session.get(Institution, wanted) is None:
            raise NotFound("institution_not_found", f"No institution with id {wanted}.")
        if body.patron_id is not None:
            patron = await get_patron(ctx, body.patron_id)
            if body.institution_id not in (None, patron.institution_id):
                raise InvalidInput("token_patron", "The patron belongs to another institution.")
        token, secret = await access.create_token(
            ctx,
            name=body.name,
            actor_kind=body.actor_kind,
            scopes=body.scopes,
            institution_id=body.institution_id,
            patron_id=body.patron_id,
            valid_days=body.valid_days,
        )
        return _token(token).model_copy(update={"secret": secret})


@router.delete("/tokens/{token_id}", response_model=s.TokenOut, tags=["tokens"])
async def revoke_token(api: ApiDep, token_id: IdPath) -> s.TokenOut:
    async with api.unit(Scope.TOKENS_WRITE) as ctx:
        return _token(await access.revoke_token(ctx, token_id))


def _token(token: ApiToken) -> s.TokenOut:
    return s.TokenOut.model_validate(token, from_attributes=True)
