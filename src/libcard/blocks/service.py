"""Blocks on an account: derived ones computed on every read, stored ones placed and lifted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BindParameter, bindparam, exists, select

from libcard.audit.service import record_on
from libcard.blocks.mail import mail_block_changes
from libcard.blocks.models import StoredBlock
from libcard.blocks.rules import (
    AccountSummary,
    Block,
    OpenCollectionCase,
    StoredBlockView,
    UnpaidReplacement,
    evaluate,
)
from libcard.cards.models import PinCredential
from libcard.cards.service import get_card
from libcard.collection.models import CollectionCase
from libcard.collection.service import OPEN_STATES, open_cases
from libcard.context import STAFF_KINDS, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound
from libcard.fees.models import Fee
from libcard.fees.rules import FeeType
from libcard.fees.service import Ledger, ledger_of
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron, patron_policy
from libcard.policy.rules import BlockCode, Policy


@dataclass(frozen=True)
class _Present:
    """Which of an account's block sources hold anything, and when its PIN locked."""

    fees: bool
    stored: bool
    cases: bool
    pin_locked_at: datetime | None


_PATRON: BindParameter[int] = bindparam("patron_id")
# Most accounts owe nothing and have no stored block or collection case: one round trip says
# so, and only the sources that hold something are read in full. Built once: making a
# statement costs about as much as running it.
_PRESENT = select(
    exists().where(Fee.patron_id == _PATRON),
    exists().where(StoredBlock.patron_id == _PATRON, StoredBlock.lifted_at.is_(None)),
    exists().where(CollectionCase.patron_id == _PATRON, CollectionCase.state.in_(OPEN_STATES)),
    select(PinCredential.locked_at).where(PinCredential.patron_id == _PATRON).scalar_subquery(),
)


async def _present(ctx: Ctx, patron_id: int) -> _Present:
    # A query flushes the session first, so a lockout set earlier in this unit is seen here.
    row = (await ctx.session.execute(_PRESENT, {"patron_id": patron_id})).one()
    return _Present(bool(row[0]), bool(row[1]), bool(row[2]), row[3])


async def summary_of(ctx: Ctx, patron: Patron, ledger: Ledger, present: _Present) -> AccountSummary:
    replacements = [
        UnpaidReplacement(v.fee.id, v.fee.created_at, v.status.outstanding_minor)
        for v in ledger.views
        if v.fee.type == FeeType.REPLACEMENT and v.status.outstanding_minor > 0
    ]
    cases = [
        OpenCollectionCase(c.id, c.handed_over_at or c.created_at, c.amount_minor - c.paid_minor)
        for c in (await open_cases(ctx, patron.id) if present.cases else [])
    ]
    stored = (
        [
            StoredBlockView(b.id, BlockCode(b.code), b.created_at, b.reason, b.ends_at, b.card_id)
            for b in (
                await ctx.session.scalars(
                    select(StoredBlock).where(
                        StoredBlock.patron_id == patron.id, StoredBlock.lifted_at.is_(None)
                    )
                )
            ).all()
        ]
        if present.stored
        else []
    )
    if present.pin_locked_at is not None:
        stored.append(StoredBlockView(0, BlockCode.PIN_LOCKED, present.pin_locked_at))
    return AccountSummary(
        ledger=ledger.events,
        unpaid_replacements=replacements,
        collection_cases=cases,
        stored=stored,
    )


async def account_blocks(
    ctx: Ctx, patron: Patron, policy: Policy | None = None
) -> tuple[list[Block], Policy, Ledger]:
    """The blocks holding now, the policy they were judged by, and the ledger they came from.
    `policy` is the patron's, when the caller has it already."""
    if policy is None:
        policy = await patron_policy(ctx, patron)
    present = await _present(ctx, patron.id)
    # An account without fees has no fee actions either: every action belongs to a fee of
    # the same patron.
    ledger = await ledger_of(ctx, patron.id) if present.fees else Ledger([], [])
    summary = await summary_of(ctx, patron, ledger, present)
    return evaluate(summary, policy, ctx.clock.now()), policy, ledger


async def blocks_of(ctx: Ctx, patron_id: int) -> tuple[list[Block], Policy]:
    blocks, policy, _ = await account_blocks(ctx, await get_patron(ctx, patron_id))
    return blocks, policy


async def place_staff_block(
    ctx: Ctx, patron_id: int, reason: str, ends_at: datetime | None = None
) -> StoredBlock:
    """R14e: a block set by staff, with a reason and an optional end date."""
    if not ctx.actor.is_staff:
        raise Forbidden("forbidden_block", "Only staff may place blocks.")
    if not reason.strip():
        raise InvalidInput("reason_required", "A staff block needs a reason the patron can read.")
    if ends_at is not None and ends_at <= ctx.clock.now():
        raise InvalidInput("ends_at_past", "A block's end date lies in the future.")
    patron = await get_patron(ctx, patron_id)
    return await _place(ctx, patron, BlockCode.STAFF, reason.strip()[:500], ends_at=ends_at)


async def retain_card(ctx: Ctx, card_id: int, where: str) -> StoredBlock:
    """A self-checkout machine kept the card: the account is blocked until the desk lifts it."""
    if ctx.actor.kind not in (
        ActorKind.TERMINAL,
        *STAFF_KINDS,
        ActorKind.SYSTEM,
    ):
        raise Forbidden("forbidden_block", "You may not record a retained card.")
    card = await get_card(ctx, card_id)
    patron = await get_patron(ctx, card.patron_id)
    return await _place(ctx, patron, BlockCode.CARD_RETAINED, where[:500], card_id=card.id)


async def _place(
    ctx: Ctx,
    patron: Patron,
    code: BlockCode,
    reason: str,
    *,
    ends_at: datetime | None = None,
    card_id: int | None = None,
) -> StoredBlock:
    before, _, _ = await account_blocks(ctx, patron)
    block = StoredBlock(
        institution_id=patron.institution_id,
        patron_id=patron.id,
        code=code.value,
        reason=reason,
        card_id=card_id,
        created_at=ctx.clock.now(),
        ends_at=ends_at,
        placed_by=ctx.actor.label,
    )
    ctx.session.add(block)
    await ctx.session.flush()
    await record_on(
        ctx,
        "block:place",
        block,
        code=code.value,
        reason=reason,
        ends_at=ends_at.isoformat() if ends_at else None,
    )
    after, _, _ = await account_blocks(ctx, patron)
    await mail_block_changes(ctx, patron, before, after)
    return block


async def lift_block(ctx: Ctx, block_id: int, note: str | None = None) -> StoredBlock:
    """Lift a staff block or a retained-card block. PIN lockouts are lifted with a photo ID
    check (cards.pin.unlock_pin); derived blocks lift when what caused them is settled."""
    if not ctx.actor.is_staff:
        raise Forbidden("forbidden_block", "Only staff may lift blocks.")
    block = await ctx.session.get(StoredBlock, block_id)
    if block is None or not ctx.actor.may_see_patron(block.patron_id, block.institution_id):
        raise NotFound("block_not_found", f"No block with id {block_id}.")
    if block.lifted_at is not None:
        raise Conflict("block_lifted", "This block has been lifted already.")
    patron = await get_patron(ctx, block.patron_id)
    # Read before and after, so a staff block whose end date has passed — it stopped holding
    # then — is lifted without telling the patron of a change they saw already.
    before, _, _ = await account_blocks(ctx, patron)
    block.lifted_at, block.lifted_by, block.lift_note = ctx.clock.now(), ctx.actor.label, note
    await record_on(ctx, "block:lift", block, code=block.code, note=note)
    after, _, _ = await account_blocks(ctx, patron)
    await mail_block_changes(ctx, patron, before, after)
    return block
