"""Blocks (R13, R14, R17): every block with reason, effects and lift step; staff blocks."""

from __future__ import annotations

from fastapi import APIRouter

from libcard.access.scopes import Scope
from libcard.blocks import service as blocks
from libcard.patrons.service import get_patron
from libcard.policy.models import Institution
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath
from libcard.web.api.views import block_out

router = APIRouter(tags=["blocks"])


@router.get("/patrons/{patron_id}/blocks", response_model=list[s.BlockOut])
async def list_blocks(api: ApiDep, patron_id: IdPath) -> list[s.BlockOut]:
    async with api.unit(Scope.BLOCKS_READ, readonly=True) as ctx:
        patron = await get_patron(ctx, patron_id)
        found, policy = await blocks.blocks_of_patron(ctx, patron)
        institution = await ctx.session.get(Institution, patron.institution_id)
        assert institution is not None
        language = api.language(patron.preferred_language or institution.default_language)
        return [block_out(b, policy, language, institution.timezone) for b in found]


@router.post("/patrons/{patron_id}/blocks", response_model=s.BlockOut, status_code=201)
async def place_block(api: ApiDep, patron_id: IdPath, body: s.StaffBlockIn) -> s.BlockOut:
    """R14e: a staff block with a reason and an optional end date."""
    async with api.unit(Scope.BLOCKS_WRITE) as ctx:
        stored = await blocks.place_staff_block(ctx, patron_id, body.reason, body.ends_at)
        found, policy = await blocks.blocks_of(ctx, patron_id)
        institution = await ctx.session.get(Institution, stored.institution_id)
        assert institution is not None
        block = next(b for b in found if b.stored_id == stored.id)
        return block_out(
            block, policy, api.language(institution.default_language), institution.timezone
        )


@router.post("/blocks/{block_id}/lift", status_code=200, response_model=list[s.BlockOut])
async def lift_block(api: ApiDep, block_id: IdPath, body: s.LiftIn) -> list[s.BlockOut]:
    """Lift a staff or retained-card block; answers with the blocks that still hold."""
    async with api.unit(Scope.BLOCKS_WRITE) as ctx:
        stored = await blocks.lift_block(ctx, block_id, body.note)
        found, policy = await blocks.blocks_of(ctx, stored.patron_id)
        institution = await ctx.session.get(Institution, stored.institution_id)
        assert institution is not None
        language = api.language(institution.default_language)
        return [block_out(b, policy, language, institution.timezone) for b in found]
