"""Reading what happened to a patron's fees: a payment's receipt and the ledger's history.

Read-only; the desk prints receipts from here and lists waivers and refunds with their reasons.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from libcard.context import Ctx
from libcard.errors import NotFound
from libcard.fees.models import Fee, FeeAction, Payment
from libcard.fees.rules import ActionKind, balance_delta
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron
from libcard.policy.models import Branch


@dataclass(frozen=True)
class Settlement:
    """The part of a payment that went to one fee."""

    fee: Fee
    amount_minor: int


@dataclass(frozen=True)
class Receipt:
    payment: Payment
    patron: Patron
    branch: Branch | None
    settled: list[Settlement]
    balance_after_minor: int  # what the patron still owed right after this payment


@dataclass(frozen=True)
class HistoryLine:
    """One ledger action with its fee: a payment (with its receipt), a waiver or a refund."""

    action: FeeAction
    fee: Fee


async def get_payment(ctx: Ctx, payment_id: int) -> Payment:
    payment = await ctx.session.get(Payment, payment_id)
    if payment is None or not ctx.actor.may_see_patron(payment.patron_id, payment.institution_id):
        # "Not yours" answers like "not there": receipt numbers are not to be probed.
        raise NotFound("payment_not_found", f"No payment with id {payment_id}.")
    return payment


async def receipt_of(ctx: Ctx, payment_id: int) -> Receipt:
    payment = await get_payment(ctx, payment_id)
    patron = await get_patron(ctx, payment.patron_id)
    fees = {
        fee.id: fee
        for fee in (await ctx.session.scalars(select(Fee).where(Fee.patron_id == patron.id))).all()
    }
    actions = (
        await ctx.session.scalars(
            select(FeeAction).where(FeeAction.patron_id == patron.id).order_by(FeeAction.id)
        )
    ).all()
    own = [action for action in actions if action.payment_id == payment.id]
    settled = [Settlement(fees[action.fee_id], action.amount_minor) for action in own]
    branch = await ctx.session.get(Branch, payment.branch_id) if payment.branch_id else None
    cut = (payment.created_at, 1, max((action.id for action in own), default=0))
    return Receipt(payment, patron, branch, settled, _balance_until(cut, fees.values(), actions))


def _balance_until(
    cut: tuple[datetime, int, int], fees: Iterable[Fee], actions: Iterable[FeeAction]
) -> int:
    """The balance at `cut`, in the order the ledger keeps its history (fees.service.ledger_of):
    charges before actions of the same moment, each by id. A refund leaves the debt as it is;
    a fee raised later counts with its first amount until each raise."""
    actions = list(actions)
    raised: dict[int, int] = defaultdict(int)
    for action in actions:
        if action.kind == ActionKind.CHARGE:
            raised[action.fee_id] += action.amount_minor
    charged = sum(
        fee.amount_minor - raised[fee.id] for fee in fees if (fee.created_at, 0, fee.id) <= cut
    )
    return charged + sum(
        balance_delta(ActionKind(action.kind), action.amount_minor)
        for action in actions
        if (action.created_at, 1, action.id) <= cut
    )


async def fee_history(ctx: Ctx, patron_id: int) -> list[HistoryLine]:
    """Every payment, waiver and refund on the patron's fees, newest first. The raises of an
    overdue fine are not listed: the fee's amount shows them."""
    patron = await get_patron(ctx, patron_id)
    rows = await ctx.session.execute(
        select(FeeAction, Fee)
        .join(Fee, Fee.id == FeeAction.fee_id)
        .where(FeeAction.patron_id == patron.id, FeeAction.kind != ActionKind.CHARGE.value)
        .order_by(FeeAction.created_at.desc(), FeeAction.id.desc())
    )
    return [HistoryLine(action, fee) for action, fee in rows.all()]
