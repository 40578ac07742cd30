"""Blocks: what stops a card (R13), when each block holds and what lifts it (R14, R16, R17)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libcard.accounts.service import CardStatus, card_status
from libcard.blocks.rules import Block
from libcard.blocks.service import blocks_of, lift_block, place_staff_block, retain_card
from libcard.blocks.texts import describe
from libcard.cards.service import find_card
from libcard.collection.service import hand_over, report_paid_in_full
from libcard.context import ActorKind
from libcard.errors import Conflict, Forbidden, InvalidInput
from libcard.fees.rules import FeeType, PaymentMethod
from libcard.fees.service import charge, pay
from libcard.kit.clock import FrozenClock
from libcard.policy.rules import Action, BlockCode
from libcard.policy.service import update_institution
from tests.conftest import PatronHandle, World

ALL_TRUE = dict.fromkeys(Action, True)
ALL_FALSE = dict.fromkeys(Action, False)


async def _charge(
    world: World, patron_id: int, amount: int, fee_type: FeeType = FeeType.OVERDUE
) -> None:
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await charge(ctx, patron_id, fee_type, amount, f"{fee_type.value} fee")


async def _pay(world: World, patron_id: int, amount: int, key: str) -> None:
    async with world.runtime.unit(world.actor(ActorKind.SERVICE)) as ctx:
        await pay(ctx, patron_id, amount, method=PaymentMethod.MOBILEPAY, idempotency_key=key)


async def _blocks(world: World, patron_id: int) -> list[Block]:
    async with world.runtime.unit() as ctx:
        blocks, _ = await blocks_of(ctx, patron_id)
        return blocks


async def _codes(world: World, patron_id: int) -> list[BlockCode]:
    return [b.code for b in await _blocks(world, patron_id)]


async def _status(world: World, patron: PatronHandle) -> CardStatus:
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        return await card_status(ctx, patron.ecard)


async def test_fees_block_at_225_dkk_and_not_at_224_99(world: World) -> None:
    """R14b: outstanding fees at or above the threshold (default 225.00 DKK) block the card;
    R13: a blocked card cannot borrow, renew or use digital services."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 22499)
    assert await _codes(world, patron.id) == []
    assert (await _status(world, patron)).may == ALL_TRUE
    await _charge(world, patron.id, 1)
    [block] = await _blocks(world, patron.id)
    assert block.code is BlockCode.FEE_THRESHOLD
    assert block.amount_minor == 22500
    status = await _status(world, patron)
    assert status.refusal is None  # the card itself is fine; the account is blocked
    assert status.may == ALL_FALSE


async def test_the_fee_block_lifts_only_when_all_debt_is_paid(world: World) -> None:
    """R14b: the fee block is lifted automatically when *all* of that debt is paid; paying
    below the threshold is not enough (lift policy "zero"). R13: paying stays possible."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 30000)
    assert await _codes(world, patron.id) == [BlockCode.FEE_THRESHOLD]
    await _pay(world, patron.id, 20000, "p1")
    [block] = await _blocks(world, patron.id)
    assert (block.code, block.amount_minor) == (BlockCode.FEE_THRESHOLD, 10000)
    assert (await _status(world, patron)).may[Action.BORROW] is False
    await _pay(world, patron.id, 10000, "p2")
    assert await _codes(world, patron.id) == []
    assert (await _status(world, patron)).may == ALL_TRUE


async def test_with_lift_below_threshold_the_block_ends_under_the_threshold(
    world: World,
) -> None:
    """R14b is policy: a library may lift the fee block as soon as the debt is under it."""
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await update_institution(
            ctx, world.institution_id, {"fee_block_lifts_at": "below_threshold"}
        )
    patron = await world.patron("external")
    await _charge(world, patron.id, 30000)
    await _pay(world, patron.id, 7500, "p1")
    assert await _codes(world, patron.id) == [BlockCode.FEE_THRESHOLD]
    await _pay(world, patron.id, 1, "p2")
    assert await _codes(world, patron.id) == []


async def test_the_payment_that_settles_the_debt_lifts_the_block_in_the_same_unit(
    world: World,
) -> None:
    """R16: when the payment succeeds, every block it settles is lifted at once — within the
    very unit of work that records the payment, with no staff action."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 25000)
    async with world.runtime.unit(world.actor(ActorKind.SERVICE)) as ctx:
        before, _ = await blocks_of(ctx, patron.id)
        await pay(ctx, patron.id, 25000, method=PaymentMethod.ONLINE_CARD, idempotency_key="settle")
        after, _ = await blocks_of(ctx, patron.id)
        status = await card_status(ctx, patron.ecard)
    assert [b.code for b in before] == [BlockCode.FEE_THRESHOLD]
    assert after == []
    assert status.may == ALL_TRUE


async def test_an_unpaid_replacement_invoice_blocks_until_paid_in_full(world: World) -> None:
    """R14c: an unpaid invoice for lost or damaged material blocks, even below the fee
    threshold, and the block lifts when the whole replacement amount is paid."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 12000, FeeType.REPLACEMENT)
    [block] = await _blocks(world, patron.id)
    assert (block.code, block.amount_minor) == (BlockCode.REPLACEMENT_UNPAID, 12000)
    assert (await _status(world, patron)).may[Action.BORROW] is False
    await _pay(world, patron.id, 11999, "most")
    [block] = await _blocks(world, patron.id)
    assert (block.code, block.amount_minor) == (BlockCode.REPLACEMENT_UNPAID, 1)
    await _pay(world, patron.id, 1, "rest")
    assert await _codes(world, patron.id) == []
    assert (await _status(world, patron)).may == ALL_TRUE


async def test_debt_in_collection_blocks_until_the_agency_reports_it_paid(
    world: World, clock: FrozenClock
) -> None:
    """R14d/R15: debt handed to a collection agency blocks borrowing, and is lifted only when
    the agency reports it paid in full (which may take up to 14 days)."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 5000)
    with pytest.raises(Forbidden):
        async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
            await hand_over(ctx, patron.id, 5000, "Nordic Collect")
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        case = await hand_over(ctx, patron.id, 5000, "Nordic Collect")
    [block] = await _blocks(world, patron.id)
    assert (block.code, block.amount_minor) == (BlockCode.IN_COLLECTION, 5000)
    assert (await _status(world, patron)).may[Action.BORROW] is False
    clock.advance(timedelta(days=14))
    assert await _codes(world, patron.id) == [BlockCode.IN_COLLECTION]
    with pytest.raises(Forbidden):
        async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
            await report_paid_in_full(ctx, case.id)
    async with world.runtime.unit(world.actor(ActorKind.AGENCY)) as ctx:
        await report_paid_in_full(ctx, case.id)
    assert await _codes(world, patron.id) == []
    assert (await _status(world, patron)).may == ALL_TRUE
    with pytest.raises(Conflict):
        async with world.runtime.unit(world.actor(ActorKind.AGENCY)) as ctx:
            await report_paid_in_full(ctx, case.id)


async def test_a_staff_block_has_a_reason_and_ends_on_its_date(
    world: World, clock: FrozenClock
) -> None:
    """R14e: a block set by staff, with a reason and an optional end date; it stops holding
    when the date has passed. R17: the patron sees the reason and when it ends."""
    patron = await world.patron("external")
    desk = world.actor(ActorKind.DESK)
    ends = clock.now() + timedelta(days=7)
    async with world.runtime.unit(desk) as ctx:
        await place_staff_block(ctx, patron.id, "Damaged three books", ends_at=ends)
    async with world.runtime.unit() as ctx:
        [block], policy = await blocks_of(ctx, patron.id)
    assert (block.code, block.reason, block.ends_at) == (
        BlockCode.STAFF,
        "Damaged three books",
        ends,
    )
    text = describe(block, policy, "en", "Europe/Copenhagen")
    assert "Damaged three books" in text.reason
    assert "12 January 2026" in text.lift
    assert (await _status(world, patron)).may == ALL_FALSE
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    assert await _codes(world, patron.id) == [BlockCode.STAFF]
    clock.advance(timedelta(seconds=1))
    assert await _codes(world, patron.id) == []
    assert (await _status(world, patron)).may == ALL_TRUE


async def test_staff_blocks_are_placed_and_lifted_by_staff_only(world: World) -> None:
    """R14e: placing needs staff and a reason the patron can read; staff lift it early."""
    patron = await world.patron("external")
    desk = world.actor(ActorKind.DESK)
    me = world.actor(ActorKind.PATRON, patron_id=patron.id)
    for actor in (world.actor(ActorKind.TERMINAL), me):
        with pytest.raises(Forbidden):
            async with world.runtime.unit(actor) as ctx:
                await place_staff_block(ctx, patron.id, "no")
    with pytest.raises(InvalidInput) as refused:
        async with world.runtime.unit(desk) as ctx:
            await place_staff_block(ctx, patron.id, "   ")
    assert refused.value.code == "reason_required"
    async with world.runtime.unit(desk) as ctx:
        with pytest.raises(InvalidInput):
            await place_staff_block(ctx, patron.id, "past", ends_at=ctx.clock.now())
    async with world.runtime.unit(desk) as ctx:
        block = await place_staff_block(ctx, patron.id, "Threatened staff")
    assert await _codes(world, patron.id) == [BlockCode.STAFF]
    with pytest.raises(Forbidden):
        async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
            await lift_block(ctx, block.id)
    async with world.runtime.unit(desk) as ctx:
        lifted = await lift_block(ctx, block.id, note="talked it through")
    assert lifted.lifted_by == desk.label
    assert await _codes(world, patron.id) == []
    with pytest.raises(Conflict):
        async with world.runtime.unit(desk) as ctx:
            await lift_block(ctx, block.id)


async def test_policy_decides_which_actions_a_block_stops(world: World) -> None:
    """R13: which actions each block type stops is policy; narrowed to borrowing, a fee block
    still lets the patron renew loans and use digital services."""
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await update_institution(
            ctx, world.institution_id, {"block_effects": {"fee_threshold": ["borrow"]}}
        )
    patron = await world.patron("external")
    await _charge(world, patron.id, 30000)
    status = await _status(world, patron)
    assert [b.code for b in status.blocks] == [BlockCode.FEE_THRESHOLD]
    assert status.may == {
        Action.BORROW: False,
        Action.RENEW: True,
        Action.HOLD: True,
        Action.DIGITAL: True,
    }
    # Other block types still stop everything.
    await _charge(world, patron.id, 100, FeeType.REPLACEMENT)
    assert (await _status(world, patron)).may == ALL_FALSE


async def test_a_card_retained_by_a_machine_blocks_until_the_desk_lifts_it(
    world: World,
) -> None:
    """A self-checkout machine that keeps a card blocks the account until the desk hands the
    card back (SIP2 "card retained")."""
    patron = await world.patron("external")
    async with world.runtime.unit() as ctx:
        card = await find_card(ctx, patron.ecard)
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        block = await retain_card(ctx, card.id, "Self-checkout 3, main library")
    [held] = await _blocks(world, patron.id)
    assert (held.code, held.card_id) == (BlockCode.CARD_RETAINED, card.id)
    assert (await _status(world, patron)).may == ALL_FALSE
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await lift_block(ctx, block.id, note="card handed back, passport seen")
    assert await _codes(world, patron.id) == []


async def test_every_block_says_why_and_what_lifts_it_in_each_language(
    world: World,
) -> None:
    """R17: the patron sees, in their own language, which blocks they have, why, and exactly
    what lifts each one."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 23000)
    await _charge(world, patron.id, 4000, FeeType.REPLACEMENT)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, patron.id, "Unreturned laptop")
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await hand_over(ctx, patron.id, 23000, "Nordic Collect")
    async with world.runtime.unit() as ctx:
        blocks, policy = await blocks_of(ctx, patron.id)
    assert {b.code for b in blocks} == {
        BlockCode.FEE_THRESHOLD,
        BlockCode.REPLACEMENT_UNPAID,
        BlockCode.STAFF,
        BlockCode.IN_COLLECTION,
    }
    for language in ("da", "de", "en"):
        texts = [describe(b, policy, language, "Europe/Copenhagen") for b in blocks]
        assert all(t.title and t.reason and t.lift for t in texts)
        assert len({t.lift for t in texts}) == len(texts)
    fee = next(b for b in blocks if b.code is BlockCode.FEE_THRESHOLD)
    assert "270.00" in describe(fee, policy, "en", "Europe/Copenhagen").reason
