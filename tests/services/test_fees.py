"""Fees and their ledger: charges, payments allocated oldest first, waivers, refunds (R16)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from libcard.context import ActorKind
from libcard.errors import Conflict, Forbidden, InvalidInput, LibcardError, RuleViolation
from libcard.fees.models import Fee, FeeAction, Payment
from libcard.fees.rules import FeeState, FeeType, PaymentMethod
from libcard.fees.service import balance_of, charge, fees_of, pay, refund, waive
from libcard.kit.clock import FrozenClock
from tests.conftest import World


async def _charge(world: World, patron_id: int, amount: int, fee_type: FeeType) -> Fee:
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        return await charge(ctx, patron_id, fee_type, amount, f"{fee_type.value} fee")


async def _pay(world: World, patron_id: int, amount: int, key: str) -> Payment:
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        return await pay(ctx, patron_id, amount, method=PaymentMethod.CASH, idempotency_key=key)


async def _balance(world: World, patron_id: int) -> int:
    async with world.runtime.unit() as ctx:
        return await balance_of(ctx, patron_id)


async def _allocated(world: World, patron_id: int) -> int:
    async with world.runtime.unit() as ctx:
        total = await ctx.session.scalar(
            select(func.coalesce(func.sum(FeeAction.amount_minor), 0)).where(
                FeeAction.patron_id == patron_id, FeeAction.kind == "payment"
            )
        )
        return int(total or 0)


async def test_every_fee_type_can_be_charged_in_the_librarys_currency(world: World) -> None:
    """B2/R11/R14: overdue fines, replacement invoices, card fees … each add to the balance."""
    patron = await world.patron("external")
    for amount, fee_type in enumerate(FeeType, start=1):
        await _charge(world, patron.id, amount * 100, fee_type)
    async with world.runtime.unit() as ctx:
        views = await fees_of(ctx, patron.id)
    assert [v.fee.type for v in views] == [t.value for t in FeeType]
    assert {v.fee.currency for v in views} == {"DKK"}
    assert all(v.status.state is FeeState.OPEN for v in views)
    assert await _balance(world, patron.id) == sum(range(1, len(FeeType) + 1)) * 100


async def test_charging_is_for_staff_and_needs_a_positive_amount(world: World) -> None:
    """Fees are charged by staff or libcard itself, never by a terminal or the patron."""
    patron = await world.patron("external")
    for kind in (ActorKind.TERMINAL, ActorKind.PATRON):
        with pytest.raises(Forbidden):
            async with world.runtime.unit(world.actor(kind, patron_id=patron.id)) as ctx:
                await charge(ctx, patron.id, FeeType.OTHER, 100, "x")
    for amount, description in ((0, "zero"), (-5, "negative"), (100, "   ")):
        with pytest.raises(InvalidInput):
            async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
                await charge(ctx, patron.id, FeeType.OTHER, amount, description)
    assert await _balance(world, patron.id) == 0


async def test_a_payment_settles_the_oldest_fee_first(world: World, clock: FrozenClock) -> None:
    """R16: money received settles open fees oldest first."""
    patron = await world.patron("external")
    older = await _charge(world, patron.id, 4000, FeeType.OVERDUE)
    clock.advance(timedelta(days=1))
    newer = await _charge(world, patron.id, 3000, FeeType.PROCESSING)
    await _pay(world, patron.id, 4000 + 1200, "pay-1")
    async with world.runtime.unit() as ctx:
        views = {v.fee.id: v.status for v in await fees_of(ctx, patron.id)}
    assert views[older.id].state is FeeState.PAID
    assert views[older.id].outstanding_minor == 0
    assert views[newer.id].state is FeeState.PARTLY_PAID
    assert views[newer.id].paid_minor == 1200
    assert views[newer.id].outstanding_minor == 1800
    assert await _balance(world, patron.id) == 1800


async def test_overpayment_is_refused(world: World) -> None:
    """R16: a payment cannot exceed what is owed; nothing is recorded."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 2500, FeeType.OVERDUE)
    with pytest.raises(RuleViolation) as refused:
        await _pay(world, patron.id, 2501, "too-much")
    assert refused.value.code == "overpayment"
    assert refused.value.details["owed_minor"] == 2500
    assert await _balance(world, patron.id) == 2500
    async with world.runtime.unit() as ctx:
        assert await ctx.session.scalar(select(func.count()).select_from(Payment)) == 0
    with pytest.raises(RuleViolation):
        await _pay(world, (await world.patron("external")).id, 1, "nothing-owed")


async def test_the_same_idempotency_key_records_one_payment(world: World) -> None:
    """R16: a retried payment request (same key) returns the first payment, not a second."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 5000, FeeType.OVERDUE)
    first = await _pay(world, patron.id, 2000, "checkout-7f3a")
    again = await _pay(world, patron.id, 2000, " checkout-7f3a ")
    assert again.id == first.id
    assert await _balance(world, patron.id) == 3000
    assert await _allocated(world, patron.id) == 2000
    with pytest.raises(Conflict) as refused:
        await _pay(world, patron.id, 2500, "checkout-7f3a")
    assert refused.value.code == "idempotency_key_reused"
    assert await _balance(world, patron.id) == 3000


async def test_a_waiver_needs_staff_and_a_reason(world: World) -> None:
    """Forgiving a fee is a staff decision, with a reason on record."""
    patron = await world.patron("external")
    fee = await _charge(world, patron.id, 3000, FeeType.OVERDUE)
    for kind in (ActorKind.TERMINAL, ActorKind.PATRON, ActorKind.AGENCY, ActorKind.DESK):
        with pytest.raises(Forbidden):
            async with world.runtime.unit(world.actor(kind, patron_id=patron.id)) as ctx:
                await waive(ctx, fee.id, "because")
    with pytest.raises(InvalidInput) as refused:
        async with world.runtime.unit(world.actor(ActorKind.SUPERVISOR)) as ctx:
            await waive(ctx, fee.id, "  ")
    assert refused.value.code == "reason_required"
    with pytest.raises(RuleViolation):
        async with world.runtime.unit(world.actor(ActorKind.SUPERVISOR)) as ctx:
            await waive(ctx, fee.id, "too much", amount_minor=3001)
    async with world.runtime.unit(world.actor(ActorKind.SUPERVISOR)) as ctx:
        partly = await waive(ctx, fee.id, "book returned undamaged", amount_minor=1000)
    assert partly.status.state is FeeState.PARTLY_PAID
    assert partly.status.waived_minor == 1000
    async with world.runtime.unit(world.actor(ActorKind.SUPERVISOR)) as ctx:
        view = await waive(ctx, fee.id, "goodwill")
    assert view.status.state is FeeState.WAIVED
    assert view.status.outstanding_minor == 0
    assert await _balance(world, patron.id) == 0
    with pytest.raises(Conflict):
        async with world.runtime.unit(world.actor(ActorKind.SUPERVISOR)) as ctx:
            await waive(ctx, fee.id, "again")


async def test_a_refund_is_at_most_what_was_paid_and_does_not_reopen_the_fee(
    world: World,
) -> None:
    """Money paid can be given back, never more than was paid; the fee stays settled."""
    patron = await world.patron("external")
    fee = await _charge(world, patron.id, 4000, FeeType.REPLACEMENT)
    supervisor = world.actor(ActorKind.SUPERVISOR)
    with pytest.raises(Conflict) as nothing:
        async with world.runtime.unit(supervisor) as ctx:
            await refund(ctx, fee.id, "nothing paid yet")
    assert nothing.value.code == "nothing_to_refund"
    await _pay(world, patron.id, 4000, "pay-all")
    with pytest.raises(RuleViolation) as refused:
        async with world.runtime.unit(supervisor) as ctx:
            await refund(ctx, fee.id, "material found", amount_minor=4001)
    assert refused.value.code == "refund_too_large"
    with pytest.raises(Forbidden):
        async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
            await refund(ctx, fee.id, "material found")
    async with world.runtime.unit(supervisor) as ctx:
        view = await refund(ctx, fee.id, "material found", amount_minor=1500)
    assert view.status.refunded_minor == 1500
    assert view.status.refundable_minor == 2500
    assert view.status.state is FeeState.PAID
    assert view.status.outstanding_minor == 0
    assert await _balance(world, patron.id) == 0
    async with world.runtime.unit(supervisor) as ctx:
        rest = await refund(ctx, fee.id, "material found")
    assert rest.status.refunded_minor == 4000
    assert rest.status.state is FeeState.PAID


async def test_a_replacement_invoice_knows_when_it_was_fully_paid(
    world: World, clock: FrozenClock
) -> None:
    """R14c: a replacement invoice is settled only when the whole amount is paid."""
    patron = await world.patron("external")
    invoice = await _charge(world, patron.id, 35000, FeeType.REPLACEMENT)
    clock.advance(timedelta(days=2))
    await _pay(world, patron.id, 20000, "part")
    async with world.runtime.unit() as ctx:
        [partly] = await fees_of(ctx, patron.id)
    assert partly.status.state is FeeState.PARTLY_PAID
    assert partly.status.settled_at is None
    clock.advance(timedelta(days=3))
    paid_at = clock.now()
    await _pay(world, patron.id, 15000, "rest")
    async with world.runtime.unit() as ctx:
        [paid] = await fees_of(ctx, patron.id)
    assert paid.fee.id == invoice.id
    assert paid.status.state is FeeState.PAID
    assert paid.status.settled_at == paid_at


async def test_balances_are_per_patron(world: World) -> None:
    """Each account has its own balance; a payment never settles another patron's fees."""
    anna = await world.patron("external")
    bo = await world.patron("external")
    await _charge(world, anna.id, 1000, FeeType.OVERDUE)
    await _charge(world, bo.id, 7000, FeeType.OVERDUE)
    await _pay(world, bo.id, 2000, "bo-1")
    assert await _balance(world, anna.id) == 1000
    assert await _balance(world, bo.id) == 5000
    with pytest.raises(RuleViolation):
        await _pay(world, anna.id, 1001, "anna-1")


async def test_a_payment_racing_a_new_charge_keeps_the_balance_exact(world: World) -> None:
    """R16 under load: a payment and a new charge at the same moment are applied one after
    the other; the balance is exactly what was charged minus what was paid."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 10000, FeeType.OVERDUE)
    for round_ in range(5):
        await asyncio.gather(
            _pay(world, patron.id, 4000, f"race-{round_}"),
            _charge(world, patron.id, 3000, FeeType.OVERDUE),
        )
    charged = 10000 + 5 * 3000
    paid = 5 * 4000
    assert await _balance(world, patron.id) == charged - paid
    assert await _allocated(world, patron.id) == paid


async def test_concurrent_payments_never_pay_more_than_is_owed(world: World) -> None:
    """R16 under load: 50 payments at once with distinct keys, together more than the debt.
    The balance never goes below zero and every accepted payment is allocated in full."""
    patron = await world.patron("external")
    await _charge(world, patron.id, 6000, FeeType.OVERDUE)
    await _charge(world, patron.id, 4000, FeeType.REPLACEMENT)

    async def attempt(n: int) -> Payment | LibcardError:
        try:
            return await _pay(world, patron.id, 300, f"burst-{n}")
        except RuleViolation as refused:
            return refused

    results = await asyncio.gather(*(attempt(n) for n in range(50)))
    accepted = [r for r in results if isinstance(r, Payment)]
    refused = [r for r in results if isinstance(r, LibcardError)]
    assert len(accepted) == 33  # 33 x 3.00 = 99.00 of the 100.00 owed
    assert {r.code for r in refused} == {"overpayment"}
    assert await _allocated(world, patron.id) == sum(p.amount_minor for p in accepted)
    assert await _balance(world, patron.id) == 10000 - 33 * 300
    async with world.runtime.unit() as ctx:
        views = await fees_of(ctx, patron.id)
        payments = await ctx.session.scalar(select(func.count()).select_from(Payment))
    assert all(v.status.outstanding_minor >= 0 for v in views)
    assert payments == 33
