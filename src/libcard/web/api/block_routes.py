"""Blocks (R13, R14, R17): every block with reason, effects and lift step; staff blocks."""

from __future__ import annotations

from fastapi import APIRouter

from libcard.access.scopes import Scope
from libcard.blocks import service as blocks
from libcard.web.api import schemas as s
from libcard.web.api.deps import ApiDep, IdPath
from libcard.web.api.views import account_blocks_out

router = APIRouter(tags=["blocks"])


@router.get("/patrons/{patron_id}/blocks", response_model=list[s.BlockOut])
async def list_blocks(api: ApiDep, patron_id: IdPath) -> list[s.BlockOut]:
    async with api.unit(Scope.BLOCKS_READ, readonly=True) as ctx:
        found, _ = await account_blocks_out(api, ctx, patron_id)
        return [out for _, out in found]


@router.post("/patrons/{patron_id}/blocks", response_model=s.BlockOut, status_code=201)
async def place_block(api: ApiDep, patron_id: IdPath, body: s.StaffBlockIn) -> s.BlockOut:
    """R14e: a staff block with a reason and an optional end date."""
    async with api.unit(Scope.BLOCKS_WRITE) as ctx:
        stored = await blocks.place_staff_block(ctx, patron_id, body.reason, body.ends_at)
        found, _ = await account_blocks_out(api, ctx, patron_id)
        return next(out for block, out in found if block.stored_id == stored.id)


@router.post("/blocks/{block_id}/lift", status_code=200, response_model=list[s.BlockOut])
async def lift_block(api: ApiDep, block_id: IdPath, body: s.LiftIn) -> list[s.BlockOut]:
    """Lift a staff or retained-card block; answers with the blocks that still hold."""
    async with api.unit(Scope.BLOCKS_WRITE) as ctx:
        stored = await blocks.lift_block(ctx, block_id, body.note)
        found, _ = await account_blocks_out(api, ctx, stored.patron_id)
        return [out for _, out in found]
