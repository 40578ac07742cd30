"""Overdue fines and lost items: the daily assessment, the lost-item declaration, and what a
checkin settles.

One overdue fee per loan (`loan.fine_fee_id`): charged the first day a fine is due and raised
as the days pass, never above the group's cap. Each raise is a ledger charge of its own
(`fees.service.raise_fee`), so the balance's history and the fee block's start stay true. The
target amount follows from the days overdue alone, so assessing twice on one day changes
nothing, and a day the job missed is caught up by the next run.

A loan overdue past the group's `lost_after_days` is declared lost: it stays open (the item is
lent to nobody else), its fine grows no more, and the patron is charged the item's replacement
cost, which blocks the account until paid in full (R14c). A lost item checked in later has its
replacement invoice cancelled, credited or kept, as the group's policy says.

Fines and invoices are charged by libcard itself (the system actor), whoever checks the item
in. The jobs work per loan inside a savepoint: a loan that fails is logged and rolled back,
and the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select

from libcard.audit.service import record_on
from libcard.context import SYSTEM_ACTOR, ActorKind, Ctx
from libcard.errors import Forbidden, InvalidInput, LibcardError
from libcard.fees.models import Fee
from libcard.fees.rules import FeeType
from libcard.fees.service import charge, fee_view, raise_fee, refund, waive
from libcard.loans.models import Item, Loan
from libcard.loans.rules import days_overdue, fine_counted_until, is_lost, loan_fine
from libcard.patrons.models import Patron
from libcard.policy.rules import LostItemReturned, Policy
from libcard.policy.service import policy_for_group

logger = logging.getLogger(__name__)

RETURNED_REASON = "The lost item was returned."


@dataclass
class FinesReport:
    """What a run did, for the job's record and the command line."""

    loans_assessed: int = 0
    fees_created: int = 0
    fees_raised: int = 0
    items_declared_lost: int = 0
    replacement_invoices: int = 0
    failures: int = 0
    # Where a run in batches goes on: the loans looked at and the last one's id.
    loans_seen: int = 0
    last_loan_id: int = 0

    def add(self, other: FinesReport) -> None:
        for name in (f.name for f in fields(self)):
            if name != "last_loan_id":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_loan_id = max(self.last_loan_id, other.last_loan_id)

    def summary(self) -> str:
        shown = [f.name for f in fields(self) if f.name not in ("loans_seen", "last_loan_id")]
        return ", ".join(f"{name.replace('_', ' ')}: {getattr(self, name)}" for name in shown)


@dataclass(frozen=True)
class _Terms:
    """What one loan is judged by: its patron's group policy, in its institution's zone."""

    policy: Policy
    timezone: str


async def _terms(ctx: Ctx, loan: Loan) -> _Terms:
    patron = await ctx.session.get(Patron, loan.patron_id)
    assert patron is not None  # foreign key
    institution, _, policy = await policy_for_group(ctx, patron.group_id)
    return _Terms(policy, institution.timezone)


async def _item(ctx: Ctx, loan: Loan) -> Item:
    item = await ctx.session.get(Item, loan.item_id)
    assert item is not None  # foreign key
    return item


def _check_run(ctx: Ctx, now: datetime) -> None:
    if ctx.actor.kind is not ActorKind.SYSTEM:
        raise Forbidden("forbidden_job", "Only libcard itself assesses fines and lost items.")
    if now.tzinfo is None:
        raise InvalidInput("naive_time", "Give the time with its time zone (UTC inside).")


async def _bring_fine_up_to_date(ctx: Ctx, loan: Loan, at: datetime, terms: _Terms) -> str | None:
    """Charge or raise the loan's overdue fine to what it has earned by `at` (or by the
    moment it was declared lost). Returns "created", "raised" or None when nothing changed."""
    until = fine_counted_until(at, loan.lost_at)
    target = loan_fine(loan.due_at, until, terms.policy, terms.timezone)
    if target <= 0:
        return None
    system = ctx.as_actor(SYSTEM_ACTOR)
    days = days_overdue(loan.due_at, until, terms.timezone)
    if loan.fine_fee_id is None:
        item = await _item(ctx, loan)
        fee = await charge(
            system,
            loan.patron_id,
            FeeType.OVERDUE,
            target,
            f"Overdue: {item.title}",
            item_barcode=item.barcode,
        )
        loan.fine_fee_id = fee.id
        await ctx.session.flush()
        await record_on(system, "loan:fine", loan, fee_id=fee.id, amount_minor=target, days=days)
        return "created"
    fine = await _fee(ctx, loan.fine_fee_id)
    # Never lowered: a cap or rate lowered later leaves what was charged (staff may waive).
    if target <= fine.amount_minor:
        return None
    await raise_fee(system, fine.id, target, f"{days} days overdue")
    return "raised"


async def _open_overdue(ctx: Ctx, now: datetime, after_id: int, limit: int | None) -> list[int]:
    query = (
        select(Loan.id)
        .where(
            Loan.returned_at.is_(None),
            Loan.lost_at.is_(None),
            Loan.due_at < now,
            Loan.id > after_id,
        )
        .order_by(Loan.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list((await ctx.session.scalars(query)).all())


async def _locked_open_loan(ctx: Ctx, loan_id: int) -> Loan | None:
    """The loan, locked, if it is still open and not lost (a checkin may have come first)."""
    loan = await ctx.session.scalar(
        select(Loan)
        .where(Loan.id == loan_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if loan is None or loan.returned_at is not None or loan.lost_at is not None:
        return None
    return loan


def _tally(report: FinesReport, done: str | None) -> None:
    if done == "created":
        report.fees_created += 1
    elif done == "raised":
        report.fees_raised += 1


LoanWork = Callable[[Ctx, int, datetime, FinesReport], Awaitable[None]]


async def _each_loan(
    ctx: Ctx, now: datetime, after_id: int, limit: int | None, what: str, work: LoanWork
) -> FinesReport:
    report = FinesReport()
    for loan_id in await _open_overdue(ctx, now, after_id, limit):
        report.loans_seen += 1
        report.last_loan_id = loan_id
        try:
            async with ctx.session.begin_nested():
                await work(ctx, loan_id, now, report)
        except LibcardError as error:
            report.failures += 1
            logger.warning("%s of loan %s refused: %s", what, loan_id, error.message)
        except Exception:
            report.failures += 1
            logger.exception("%s of loan %s failed; the other loans go on", what, loan_id)
    return report


async def _assess_one(ctx: Ctx, loan_id: int, now: datetime, report: FinesReport) -> None:
    loan = await _locked_open_loan(ctx, loan_id)
    if loan is None:
        return
    report.loans_assessed += 1
    done = await _bring_fine_up_to_date(ctx, loan, now, await _terms(ctx, loan))
    _tally(report, done)


async def _declare_one(ctx: Ctx, loan_id: int, now: datetime, report: FinesReport) -> None:
    loan = await _locked_open_loan(ctx, loan_id)
    if loan is None:
        return
    report.loans_assessed += 1
    terms = await _terms(ctx, loan)
    days = days_overdue(loan.due_at, now, terms.timezone)
    if not is_lost(days, terms.policy.lost_after_days):
        return
    # The fine is brought up to this day and then stops growing.
    done = await _bring_fine_up_to_date(ctx, loan, now, terms)
    _tally(report, done)
    loan.lost_at = now
    item = await _item(ctx, loan)
    system = ctx.as_actor(SYSTEM_ACTOR)
    if item.replacement_cost_minor > 0:
        invoice = await charge(
            system,
            loan.patron_id,
            FeeType.REPLACEMENT,
            item.replacement_cost_minor,
            f"Replacement: {item.title}",
            item_barcode=item.barcode,
        )
        loan.replacement_fee_id = invoice.id
        report.replacement_invoices += 1
    await ctx.session.flush()
    await record_on(
        system,
        "loan:lost",
        loan,
        item_id=item.id,
        barcode=item.barcode,
        days_overdue=days,
        replacement_fee_id=loan.replacement_fee_id,
    )
    report.items_declared_lost += 1


async def assess_overdue(
    ctx: Ctx, now: datetime, *, after_id: int = 0, limit: int | None = None
) -> FinesReport:
    """Bring the overdue fine of every open, overdue, not lost loan up to `now`. With `limit`,
    at most that many loans with ids above `after_id` (the job runs in batches)."""
    _check_run(ctx, now)
    return await _each_loan(ctx, now, after_id, limit, "overdue fine", _assess_one)


async def declare_lost(
    ctx: Ctx, now: datetime, *, after_id: int = 0, limit: int | None = None
) -> FinesReport:
    """Declare lost every open loan overdue by more than its group's `lost_after_days`, and
    charge the item's replacement cost."""
    _check_run(ctx, now)
    return await _each_loan(ctx, now, after_id, limit, "lost-item check", _declare_one)


async def settle_at_checkin(ctx: Ctx, loan: Loan, item: Item, now: datetime) -> None:
    """For `loans.service.checkin`, with the loan locked and before it closes: the fine is
    brought up to the day of return (after that it is final: the job looks at open loans
    only); a lost item's replacement invoice is handled as the group's policy says."""
    if loan.lost_at is None and now <= loan.due_at:
        return  # on time: nothing to settle
    terms = await _terms(ctx, loan)
    await _bring_fine_up_to_date(ctx, loan, now, terms)
    if loan.lost_at is None or loan.replacement_fee_id is None:
        return
    choice = terms.policy.lost_item_returned
    system = ctx.as_actor(SYSTEM_ACTOR)
    view = await fee_view(system, await _fee(ctx, loan.replacement_fee_id))
    waived = refunded = 0
    if choice is not LostItemReturned.KEEP and view.status.outstanding_minor > 0:
        waived = view.status.outstanding_minor
        await waive(system, view.fee.id, RETURNED_REASON)
    if choice is LostItemReturned.CREDIT and view.status.refundable_minor > 0:
        # The ledger has no credit balance: what was paid is refunded, for the desk to pay out.
        refunded = view.status.refundable_minor
        await refund(system, view.fee.id, RETURNED_REASON)
    await record_on(
        system,
        "loan:lost_returned",
        loan,
        item_id=item.id,
        barcode=item.barcode,
        replacement_fee_id=view.fee.id,
        policy=choice.value,
        waived_minor=waived,
        refunded_minor=refunded,
    )


async def _fee(ctx: Ctx, fee_id: int) -> Fee:
    fee = await ctx.session.get(Fee, fee_id)
    assert fee is not None  # foreign key
    return fee
