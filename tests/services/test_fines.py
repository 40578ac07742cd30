"""Overdue fines, lost items and their replacement invoices, and the daily job runs (B2, R14c)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from libcard.accounts.service import card_status
from libcard.audit.models import AuditEvent
from libcard.blocks.service import blocks_of
from libcard.context import ActorKind
from libcard.errors import Conflict, InvalidInput, RuleViolation
from libcard.fees.models import Fee, Payment
from libcard.fees.receipts import receipt_of
from libcard.fees.rules import FeeState, FeeType, PaymentMethod
from libcard.fees.service import FeeView, fees_of, ledger_of, pay
from libcard.jobs.models import JobRun
from libcard.jobs.registry import JOBS, Cadence, Job
from libcard.jobs.scheduler import JobScheduler
from libcard.kit.clock import FrozenClock
from libcard.loans import fines
from libcard.loans.fines import FinesReport, assess_overdue, declare_lost
from libcard.loans.models import Loan
from libcard.loans.service import checkin, checkout, create_item, renew
from libcard.policy.branches import create_branch
from libcard.policy.rules import Action, BlockCode, LostItemReturned
from libcard.policy.service import policy_for_group, update_group
from tests.conftest import PatronHandle, World

# The fixture clock starts on Monday 5 January 2026, 09:00 UTC; a 28-day loan is due at the
# end of 2 February in Copenhagen. Noon on the Nth day overdue:
DUE = datetime(2026, 2, 2, 22, 59, 59, tzinfo=UTC)


def overdue_day(n: int) -> datetime:
    return datetime(2026, 2, 2, 12, tzinfo=UTC) + timedelta(days=n)


async def _items(world: World, *barcodes: str) -> None:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        branch = await create_branch(ctx, world.institution_id, code="main", name="Main Library")
        for barcode in barcodes:
            await create_item(
                ctx,
                world.institution_id,
                barcode=barcode,
                title=f"Book {barcode}",
                branch_id=branch.id,
                replacement_cost_minor=12000,
            )


async def _lend(world: World, patron: PatronHandle, barcode: str) -> Loan:
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        return await checkout(ctx, patron.ecard, barcode)


async def _return(world: World, barcode: str) -> Loan:
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        return await checkin(ctx, barcode)


async def _assess(world: World) -> FinesReport:
    async with world.runtime.unit() as ctx:
        return await assess_overdue(ctx, ctx.clock.now())


async def _declare_lost(world: World) -> FinesReport:
    async with world.runtime.unit() as ctx:
        return await declare_lost(ctx, ctx.clock.now())


async def _fees(world: World, patron_id: int, fee_type: FeeType) -> list[FeeView]:
    async with world.runtime.unit() as ctx:
        return [v for v in await fees_of(ctx, patron_id) if v.fee.type == fee_type]


async def _amounts(world: World, patron_id: int) -> list[int]:
    return [v.fee.amount_minor for v in await _fees(world, patron_id, FeeType.OVERDUE)]


async def _pay(world: World, patron_id: int, fee: Fee, amount: int, key: str) -> Payment:
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        return await pay(
            ctx,
            patron_id,
            amount,
            method=PaymentMethod.CASH,
            idempotency_key=key,
            fee_ids=[fee.id],
        )


async def _group(world: World, group: str, **changes: Any) -> None:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await update_group(ctx, world.groups[group], changes)


async def _block_codes(world: World, patron_id: int) -> list[BlockCode]:
    async with world.runtime.unit() as ctx:
        blocks, _ = await blocks_of(ctx, patron_id)
    return [block.code for block in blocks]


async def test_the_fine_grows_daily_stops_at_the_cap_and_is_final_at_checkin(
    world: World, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    await _items(world, "3800001", "3800002")
    patron = await world.patron()
    await _lend(world, patron, "3800001")
    returned = await _lend(world, patron, "3800002")
    clock.current = DUE
    assert (await _assess(world)).loans_assessed == 0  # due this very second: not overdue

    # Day 1. One loan fails (logged); the other is fined all the same.
    clock.current = overdue_day(1)
    terms = fines._terms

    async def failing(ctx: Any, loan: Loan) -> Any:
        if loan.id == returned.id:
            raise RuntimeError("the group's policy could not be read")
        return await terms(ctx, loan)

    monkeypatch.setattr(fines, "_terms", failing)
    with caplog.at_level(logging.ERROR, logger="libcard.loans.fines"):
        report = await _assess(world)
    assert (report.loans_assessed, report.fees_created, report.failures) == (2, 1, 1)
    assert f"loan {returned.id} failed" in caplog.text
    monkeypatch.undo()
    # The next run catches up; a further run on the same day changes nothing.
    assert (await _assess(world)).fees_created == 1
    again = await _assess(world)
    assert (again.loans_assessed, again.fees_created, again.fees_raised) == (2, 0, 0)
    assert await _amounts(world, patron.id) == [500, 500]
    fine = (await _fees(world, patron.id, FeeType.OVERDUE))[0].fee
    assert fine.description == "Overdue: Book 3800001"
    assert fine.item_barcode == "3800001"

    # Day 2: raised, still one fee per loan; the ledger says when each 5.00 was added.
    clock.current = overdue_day(2)
    assert (await _assess(world)).fees_raised == 2
    assert await _amounts(world, patron.id) == [1000, 1000]
    async with world.runtime.unit() as ctx:
        ledger = await ledger_of(ctx, patron.id)
    assert [(e.at, e.delta_minor) for e in ledger.events] == [
        (overdue_day(1), 500),
        (overdue_day(1), 500),
        (overdue_day(2), 500),
        (overdue_day(2), 500),
    ]
    paid = await _pay(world, patron.id, fine, 500, "day-2")

    # Day 3 without a job run: the checkin brings the fine up to the day of return.
    clock.current = overdue_day(3)
    await _return(world, "3800002")
    assert await _amounts(world, patron.id) == [1000, 1500]

    # Day 30: the kept loan's fine has stopped at the cap; the returned one's is final.
    clock.current = overdue_day(30)
    assert (await _assess(world)).loans_assessed == 1
    assert await _amounts(world, patron.id) == [10000, 1500]
    async with world.runtime.unit() as ctx:
        # Reprinted later, the receipt still shows the balance just after that payment.
        assert (await receipt_of(ctx, paid.id)).balance_after_minor == 1500
        actors = set(
            (
                await ctx.session.scalars(
                    select(AuditEvent.actor_kind).where(
                        AuditEvent.action.in_(("fee:charge", "fee:raise"))
                    )
                )
            ).all()
        )
    assert actors == {"system"}


async def test_a_long_overdue_item_is_lost_invoiced_and_blocks_until_paid(
    world: World, clock: FrozenClock
) -> None:
    await _items(world, "3800001")
    await _group(world, "external", fine_cap_minor=100_000)
    patron = await world.patron()
    other = await world.patron()
    await _lend(world, patron, "3800001")

    clock.current = overdue_day(60)
    assert (await _declare_lost(world)).items_declared_lost == 0
    clock.current = overdue_day(61)
    report = await _declare_lost(world)
    assert (report.items_declared_lost, report.replacement_invoices) == (1, 1)
    assert (await _declare_lost(world)).items_declared_lost == 0  # once only
    [invoice] = await _fees(world, patron.id, FeeType.REPLACEMENT)
    assert (invoice.fee.amount_minor, invoice.fee.description) == (
        12000,
        "Replacement: Book 3800001",
    )
    assert await _amounts(world, patron.id) == [61 * 500]  # brought up to the day it was lost
    assert BlockCode.REPLACEMENT_UNPAID in await _block_codes(world, patron.id)
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        assert (await card_status(ctx, patron.ecard)).may[Action.BORROW] is False

    # Lost, the loan stays open: nobody else borrows the item, nobody renews it, and the
    # fine grows no more.
    with pytest.raises(Conflict) as taken:
        await _lend(world, other, "3800001")
    assert taken.value.code == "item_on_loan"
    with pytest.raises(RuleViolation) as renewal:
        async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
            await renew(ctx, "3800001")
    assert renewal.value.code == "loan_lost"
    clock.current = overdue_day(70)
    assert (await _assess(world)).loans_assessed == 0
    assert await _amounts(world, patron.id) == [61 * 500]

    # Paid in part, the block holds; paid in full, it lifts at once.
    await _pay(world, patron.id, invoice.fee, 11999, "part")
    assert BlockCode.REPLACEMENT_UNPAID in await _block_codes(world, patron.id)
    await _pay(world, patron.id, invoice.fee, 1, "rest")
    assert BlockCode.REPLACEMENT_UNPAID not in await _block_codes(world, patron.id)


async def test_a_returned_lost_item_cancels_credits_or_keeps_its_invoice(
    world: World, clock: FrozenClock
) -> None:
    choices = {
        "student": LostItemReturned.CANCEL,
        "employee": LostItemReturned.CREDIT,
        "external": LostItemReturned.KEEP,
    }
    await _items(world, *(f"38{n}" for n in range(3)))
    patrons = {}
    for n, (group, choice) in enumerate(choices.items()):
        await _group(world, group, lost_item_returned=choice.value)
        patrons[group] = await world.patron(group)
        await _lend(world, patrons[group], f"38{n}")
    clock.current = overdue_day(61)
    assert (await _declare_lost(world)).replacement_invoices == 3
    for group in ("student", "employee"):
        [invoice] = await _fees(world, patrons[group].id, FeeType.REPLACEMENT)
        await _pay(world, patrons[group].id, invoice.fee, 5000, f"part-{group}")

    clock.current = overdue_day(65)
    for n in range(3):
        loan = await _return(world, f"38{n}")
        assert loan.returned_at == clock.current
    states = {}
    for group, patron in patrons.items():
        [invoice] = await _fees(world, patron.id, FeeType.REPLACEMENT)
        status = invoice.status
        states[group] = (
            status.state,
            status.paid_minor,
            status.waived_minor,
            status.refunded_minor,
        )
    assert states == {
        "student": (FeeState.PAID, 5000, 7000, 0),  # cancelled: what was paid stays paid
        "employee": (FeeState.PAID, 5000, 7000, 5000),  # credited: the 50.00 goes back
        "external": (FeeState.OPEN, 0, 0, 0),  # kept
    }
    assert BlockCode.REPLACEMENT_UNPAID not in await _block_codes(world, patrons["student"].id)
    assert BlockCode.REPLACEMENT_UNPAID in await _block_codes(world, patrons["external"].id)
    # The fines stayed as they were the day each item was declared lost.
    for patron in patrons.values():
        assert await _amounts(world, patron.id) == [10000]


async def test_the_day_s_run_is_taken_once_and_a_cut_off_run_is_taken_over(
    world: World, clock: FrozenClock
) -> None:
    await _items(world, "3800001")
    patron = await world.patron()
    await _lend(world, patron, "3800001")
    clock.current = overdue_day(1)
    # The loan jobs only: the collection and payment jobs have tests of their own.
    loan_jobs = [JOBS["overdue_fines"], JOBS["lost_items"]]
    first = JobScheduler(world.runtime, loan_jobs, frequent=())
    second = JobScheduler(world.runtime, loan_jobs, frequent=())
    ran = await first.run_due()
    assert [(r.name, r.day, r.outcome) for r in ran] == [
        ("overdue_fines", date(2026, 2, 3), "ok"),
        ("lost_items", date(2026, 2, 3), "ok"),
    ]
    assert "fees created: 1" in ran[0].summary
    clock.advance(timedelta(hours=1))
    assert await second.run_due() == []  # another process, the same day: refused
    assert await first.run_due() == []

    # A run whose process died keeps its row; after two hours another scheduler reruns it.
    clock.current = overdue_day(2)
    async with world.runtime.unit() as ctx:
        ctx.session.add(
            JobRun(name="overdue_fines", day=date(2026, 2, 4), started_at=clock.current)
        )
    assert [r.name for r in await second.run_due()] == ["lost_items"]
    assert await _amounts(world, patron.id) == [500]
    clock.advance(timedelta(hours=2, seconds=1))
    assert [r.name for r in await second.run_due()] == ["overdue_fines"]
    assert await _amounts(world, patron.id) == [1000]
    async with world.runtime.unit() as ctx:
        runs = (await ctx.session.scalars(select(JobRun).order_by(JobRun.id))).all()
    assert [(r.name, r.day.day, r.outcome) for r in runs] == [
        ("overdue_fines", 3, "ok"),
        ("lost_items", 3, "ok"),
        ("overdue_fines", 4, "ok"),
        ("lost_items", 4, "ok"),
    ]


async def test_fine_and_loan_policy_is_checked_and_kept_per_group(world: World) -> None:
    for changes in (
        {"fine_grace_days": 366},
        {"fine_per_day_minor": -1},
        {"lost_after_days": 0},
        {"loan_days": True},
        {"max_loans": 1001},
        {"lost_item_returned": "burn"},
    ):
        with pytest.raises(InvalidInput) as refused:
            await _group(world, "student", **changes)
        assert refused.value.code == "invalid_policy"
    await _group(
        world,
        "student",
        fine_per_day_minor=0,
        fine_cap_minor=0,
        fine_grace_days=2,
        lost_after_days=30,
        lost_item_returned="credit",
        loan_days=14,
        max_loans=0,
        max_renewals=0,
    )
    async with world.runtime.unit() as ctx:
        _, _, policy = await policy_for_group(ctx, world.groups["student"])
    assert (
        policy.fine_per_day_minor,
        policy.fine_cap_minor,
        policy.fine_grace_days,
        policy.lost_after_days,
        policy.lost_item_returned,
        policy.loan_days,
        policy.max_loans,
        policy.max_renewals,
    ) == (0, 0, 2, 30, LostItemReturned.CREDIT, 14, 0, 0)


async def test_frequent_jobs_run_at_every_check_and_one_failing_stops_no_other(
    world: World, clock: FrozenClock
) -> None:
    ran: list[datetime] = []

    async def broken(runtime: object, now: datetime) -> FinesReport:
        raise RuntimeError("the provider is down")

    async def counted(runtime: object, now: datetime) -> FinesReport:
        ran.append(now)
        return FinesReport()

    scheduler = JobScheduler(
        world.runtime,
        [],
        frequent=[
            Job("broken", Cadence.FREQUENT, "Fails.", broken),
            Job("counted", Cadence.FREQUENT, "Counts.", counted),
        ],
    )
    assert await scheduler.run_due() == []  # not recorded as daily runs
    clock.advance(timedelta(minutes=1))
    await scheduler.run_due()
    assert len(ran) == 2
    async with world.runtime.unit() as ctx:
        assert (await ctx.session.scalars(select(JobRun))).all() == []
