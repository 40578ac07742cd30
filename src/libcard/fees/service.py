"""Fees and their ledger: charge, payment (allocated oldest-first), waiver, refund.

Every write first locks the patron row, so a payment racing a new charge, or two payments
racing each other, are applied one after the other and the balance stays exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from libcard.audit.service import record_on
from libcard.context import FEE_FORGIVERS, STAFF_KINDS, ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from libcard.fees.models import Fee, FeeAction, Payment
from libcard.fees.rules import (
    ActionKind,
    BalanceEvent,
    FeeStatus,
    FeeType,
    Line,
    OpenFee,
    PaymentMethod,
    allocate,
    balance_delta,
    fee_status,
    first_charge,
)
from libcard.kit.money import format_minor
from libcard.patrons.service import get_patron, get_patron_for_update, patron_policy

CHARGERS = STAFF_KINDS | {ActorKind.SYSTEM}
PAYMENT_TAKERS = frozenset(
    {
        *STAFF_KINDS,
        ActorKind.SYSTEM,
        ActorKind.TERMINAL,
        ActorKind.AGENCY,
        ActorKind.SERVICE,
    }
)
MAX_AMOUNT_MINOR = 100_000_000  # a million kroner: more is a typo, not a library fee


@dataclass(frozen=True)
class FeeView:
    fee: Fee
    status: FeeStatus


def _check_amount(amount_minor: int) -> None:
    if not 0 < amount_minor <= MAX_AMOUNT_MINOR:
        raise InvalidInput("amount", "An amount is a positive number of minor units (øre, cent).")


async def charge(
    ctx: Ctx,
    patron_id: int,
    fee_type: FeeType,
    amount_minor: int,
    description: str,
    *,
    card_id: int | None = None,
    item_barcode: str | None = None,
) -> Fee:
    if ctx.actor.kind not in CHARGERS:
        raise Forbidden("forbidden_charge", "You may not charge fees.")
    _check_amount(amount_minor)
    if not description.strip():
        raise InvalidInput("description_required", "Say what the fee is for.")
    patron = await get_patron_for_update(ctx, patron_id)
    policy = await patron_policy(ctx, patron)
    fee = Fee(
        institution_id=patron.institution_id,
        patron_id=patron.id,
        type=FeeType(fee_type).value,
        amount_minor=amount_minor,
        currency=policy.currency,
        description=description.strip()[:500],
        card_id=card_id,
        item_barcode=item_barcode,
        created_at=ctx.clock.now(),
    )
    ctx.session.add(fee)
    await ctx.session.flush()
    await record_on(
        ctx, "fee:charge", fee, type=fee.type, amount_minor=amount_minor, currency=fee.currency
    )
    return fee


@dataclass(frozen=True)
class Ledger:
    """One patron's fees with their status, and the balance's history, read in one go."""

    views: list[FeeView]
    events: list[BalanceEvent]  # + each charge, − each payment and waiver, in order

    @property
    def balance_minor(self) -> int:
        return sum(view.status.outstanding_minor for view in self.views)


async def ledger_of(ctx: Ctx, patron_id: int) -> Ledger:
    """Two queries: the fees and their actions. No visibility check; callers have made it."""
    fees = (
        await ctx.session.scalars(
            select(Fee).where(Fee.patron_id == patron_id).order_by(Fee.created_at, Fee.id)
        )
    ).all()
    actions = (
        await ctx.session.scalars(select(FeeAction).where(FeeAction.patron_id == patron_id))
    ).all()
    lines: dict[int, list[Line]] = defaultdict(list)
    keyed: list[tuple[tuple[datetime, int, int], BalanceEvent]] = []
    for action in actions:
        kind = ActionKind(action.kind)
        lines[action.fee_id].append(
            Line(kind, action.amount_minor, action.created_at, action.payment_id)
        )
        delta = balance_delta(kind, action.amount_minor)
        if delta:  # a refund gives money back; the debt is unchanged
            keyed.append(
                ((action.created_at, 1, action.id), BalanceEvent(action.created_at, delta))
            )
    # A fee raised later (an overdue fine) counts at first with what it was charged with; each
    # raise is its own event when it happened.
    keyed += [
        (
            (fee.created_at, 0, fee.id),
            BalanceEvent(fee.created_at, first_charge(fee.amount_minor, lines[fee.id])),
        )
        for fee in fees
    ]
    views = [FeeView(fee, fee_status(fee.amount_minor, lines[fee.id])) for fee in fees]
    events = [event for _, event in sorted(keyed, key=lambda pair: pair[0])]
    return Ledger(views, events)


async def fee_views(ctx: Ctx, patron_id: int) -> list[FeeView]:
    return (await ledger_of(ctx, patron_id)).views


async def fees_of(ctx: Ctx, patron_id: int) -> list[FeeView]:
    await get_patron(ctx, patron_id)
    return await fee_views(ctx, patron_id)


async def balance_of(ctx: Ctx, patron_id: int) -> int:
    return sum(view.status.outstanding_minor for view in await fees_of(ctx, patron_id))


async def get_fee(ctx: Ctx, fee_id: int) -> Fee:
    fee = await ctx.session.get(Fee, fee_id)
    if fee is None or not ctx.actor.may_see_patron(fee.patron_id, fee.institution_id):
        raise NotFound("fee_not_found", f"No fee with id {fee_id}.")
    return fee


async def fee_view(ctx: Ctx, fee: Fee) -> FeeView:
    for view in await fee_views(ctx, fee.patron_id):
        if view.fee.id == fee.id:
            return view
    raise NotFound("fee_not_found", f"No fee with id {fee.id}.")


async def pay(
    ctx: Ctx,
    patron_id: int,
    amount_minor: int,
    *,
    method: PaymentMethod,
    idempotency_key: str,
    reference: str | None = None,
    fee_ids: Sequence[int] | None = None,
    currency: str | None = None,
) -> Payment:
    """Record money received and settle open fees with it, oldest first.

    The same idempotency key twice records one payment: a retried request gets the first
    payment back; the key reused for a different payment is refused.
    """
    if ctx.actor.kind not in PAYMENT_TAKERS:
        raise Forbidden("forbidden_payment", "You may not record payments.")
    _check_amount(amount_minor)
    key = idempotency_key.strip()
    if not 1 <= len(key) <= 200:
        raise InvalidInput("idempotency_key", "An idempotency key has 1–200 characters.")
    patron = await get_patron_for_update(ctx, patron_id)
    policy = await patron_policy(ctx, patron)
    if currency is not None and currency != policy.currency:
        raise InvalidInput("currency_mismatch", f"This library's fees are in {policy.currency}.")
    earlier = await ctx.session.scalar(
        select(Payment).where(
            Payment.institution_id == patron.institution_id, Payment.idempotency_key == key
        )
    )
    if earlier is not None:
        same = (earlier.patron_id, earlier.amount_minor, earlier.method) == (
            patron.id,
            amount_minor,
            PaymentMethod(method).value,
        )
        if same:
            return earlier
        raise Conflict("idempotency_key_reused", "This idempotency key belongs to another payment.")
    views = await fee_views(ctx, patron.id)
    if fee_ids is not None:
        wanted = set(fee_ids)
        unknown = wanted - {v.fee.id for v in views}
        if unknown:
            raise NotFound("fee_not_found", f"No such fee(s) on this account: {sorted(unknown)}.")
        views = [v for v in views if v.fee.id in wanted]
    open_fees = [
        OpenFee(v.fee.id, v.fee.created_at, v.status.outstanding_minor)
        for v in views
        if v.status.outstanding_minor > 0
    ]
    owed = sum(f.outstanding_minor for f in open_fees)
    if amount_minor > owed:
        raise RuleViolation(
            "overpayment",
            f"The payment of {format_minor(amount_minor, policy.currency)} is more than the "
            f"{format_minor(owed, policy.currency)} {policy.currency} owed.",
            owed_minor=owed,
        )
    now = ctx.clock.now()
    payment = Payment(
        institution_id=patron.institution_id,
        patron_id=patron.id,
        amount_minor=amount_minor,
        currency=policy.currency,
        method=PaymentMethod(method).value,
        reference=reference,
        idempotency_key=key,
        taken_by=ctx.actor.label,
        branch_id=ctx.actor.branch_id,
        created_at=now,
    )
    ctx.session.add(payment)
    await ctx.session.flush()
    for fee_id, share in allocate(amount_minor, open_fees):
        ctx.session.add(
            FeeAction(
                fee_id=fee_id,
                patron_id=patron.id,
                kind=ActionKind.PAYMENT.value,
                amount_minor=share,
                payment_id=payment.id,
                actor_label=ctx.actor.label,
                created_at=now,
            )
        )
    await ctx.session.flush()
    await record_on(
        ctx,
        "fee:pay",
        payment,
        amount_minor=amount_minor,
        method=payment.method,
        reference=reference,
    )
    return payment


@dataclass(frozen=True)
class _StaffAction:
    kind: ActionKind
    name: str
    verb: str
    nothing: tuple[str, str]  # code and message when the fee leaves nothing to act on
    too_large: tuple[str, str]


WAIVER = _StaffAction(
    ActionKind.WAIVER,
    "waive",
    "waived",
    ("fee_settled", "Nothing is owed on this fee."),
    ("waiver_too_large", "A waiver cannot exceed what is owed on the fee."),
)
REFUND = _StaffAction(
    ActionKind.REFUND,
    "refund",
    "refunded",
    ("nothing_to_refund", "Nothing has been paid on this fee that could be refunded."),
    ("refund_too_large", "A refund cannot exceed what was paid for the fee."),
)


async def waive(ctx: Ctx, fee_id: int, reason: str, amount_minor: int | None = None) -> FeeView:
    """Forgive (part of) what is still owed on a fee; staff only, with a reason."""
    return await _staff_action(ctx, WAIVER, fee_id, reason, amount_minor)


async def refund(ctx: Ctx, fee_id: int, reason: str, amount_minor: int | None = None) -> FeeView:
    """Give money paid for a fee back (a fee charged in error, material returned after payment)."""
    return await _staff_action(ctx, REFUND, fee_id, reason, amount_minor)


async def _staff_action(
    ctx: Ctx, action: _StaffAction, fee_id: int, reason: str, amount_minor: int | None
) -> FeeView:
    if ctx.actor.kind not in FEE_FORGIVERS:
        raise Forbidden(
            f"forbidden_{action.name}",
            f"Only a supervisor or an administrator may have fees {action.verb}.",
        )
    if not reason.strip():
        raise InvalidInput("reason_required", f"Say why the fee is {action.verb}.")
    fee = await get_fee(ctx, fee_id)
    await get_patron_for_update(ctx, fee.patron_id)
    view = await fee_view(ctx, fee)
    # A waiver is bounded by what is owed; a refund by what was paid and not yet given back.
    room = (
        view.status.outstanding_minor
        if action.kind is ActionKind.WAIVER
        else view.status.refundable_minor
    )
    if room == 0:
        raise Conflict(*action.nothing)
    amount = room if amount_minor is None else amount_minor
    _check_amount(amount)
    if amount > room:
        raise RuleViolation(*action.too_large)
    return await _act(ctx, fee, action.kind, amount, reason)


async def _act(ctx: Ctx, fee: Fee, kind: ActionKind, amount: int, reason: str) -> FeeView:
    ctx.session.add(
        FeeAction(
            fee_id=fee.id,
            patron_id=fee.patron_id,
            kind=kind.value,
            amount_minor=amount,
            reason=reason.strip()[:500],
            actor_label=ctx.actor.label,
            created_at=ctx.clock.now(),
        )
    )
    await ctx.session.flush()
    await record_on(ctx, f"fee:{kind.value}", fee, amount_minor=amount, reason=reason)
    return await fee_view(ctx, fee)


async def raise_fee(ctx: Ctx, fee_id: int, amount_minor: int, reason: str) -> Fee:
    """Raise a fee to `amount_minor` (an overdue fine growing day by day): the fee keeps one
    line in the patron's list, and the ledger records the increase as a charge of its own,
    so the balance's history says when the debt grew."""
    if ctx.actor.kind not in CHARGERS:
        raise Forbidden("forbidden_charge", "You may not charge fees.")
    _check_amount(amount_minor)
    fee = await get_fee(ctx, fee_id)
    await get_patron_for_update(ctx, fee.patron_id)
    await ctx.session.refresh(fee)  # as it stands now that the account is locked
    increase = amount_minor - fee.amount_minor
    if increase <= 0:
        raise InvalidInput(
            "fee_not_raised", "A fee can only be raised, not lowered; waive instead."
        )
    fee.amount_minor = amount_minor
    ctx.session.add(
        FeeAction(
            fee_id=fee.id,
            patron_id=fee.patron_id,
            kind=ActionKind.CHARGE.value,
            amount_minor=increase,
            reason=reason.strip()[:500] or None,
            actor_label=ctx.actor.label,
            created_at=ctx.clock.now(),
        )
    )
    await ctx.session.flush()
    await record_on(ctx, "fee:raise", fee, amount_minor=amount_minor, increase_minor=increase)
    return fee
