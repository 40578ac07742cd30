"""Starting an online payment: what the patron owes, what paying would lift, the checkout row.

Amounts always come from the ledger, never from the browser: the patron chooses fees, and
the payment is for exactly what those fees owe now. One open payment per patron: a second
start reuses the first when nothing changed, and otherwise cancels it (a late success of the
cancelled one is still recorded; see results.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from libcard.audit.service import record_on
from libcard.blocks.rules import Block, UnpaidReplacement
from libcard.blocks.service import account_blocks
from libcard.collection.models import CollectionCase, CollectionCaseFee
from libcard.collection.rules import CaseState
from libcard.context import ActorKind, Ctx
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound
from libcard.fees.receipts import Receipt, receipt_of
from libcard.fees.rules import FeeType
from libcard.fees.service import FeeView
from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron, get_patron_for_update
from libcard.payments.models import OnlinePayment, OnlinePaymentFee
from libcard.payments.providers.base import Checkout
from libcard.payments.rules import (
    OPEN_STATES,
    PaymentState,
    blocks_after_paying,
    lifted_codes,
)
from libcard.policy.models import Institution
from libcard.policy.rules import BlockCode, Policy

# How long a checkout stays open: the providers' own payment pages time out sooner.
CHECKOUT_MINUTES = 30
MAX_FEES = 200  # more fees in one form is not a person ticking boxes


@dataclass(frozen=True)
class Preview:
    """The payment overview: open fees, the chosen ones, and the blocks before and after."""

    patron: Patron
    institution: Institution
    policy: Policy
    open_fees: list[FeeView]
    chosen: list[FeeView]
    blocks_now: list[Block]
    blocks_after: list[Block]
    with_agency: int = 0  # open fees the collection agency collects, not offered here

    @property
    def amount_minor(self) -> int:
        return sum(view.status.outstanding_minor for view in self.chosen)

    @property
    def currency(self) -> str:
        return self.policy.currency

    @property
    def lifted(self) -> list[Block]:
        codes = set(lifted_codes(self.blocks_now, self.blocks_after))
        return [block for block in self.blocks_now if block.code in codes]

    @property
    def staying(self) -> list[Block]:
        codes = set(lifted_codes(self.blocks_now, self.blocks_after))
        return [block for block in self.blocks_after if block.code not in codes]


@dataclass(frozen=True)
class Replaced:
    """An earlier open payment this start cancelled; the provider is told after the commit."""

    provider: str
    reference: str
    provider_payment_id: str | None


@dataclass(frozen=True)
class Started:
    payment: OnlinePayment
    institution_name: str  # for the provider's page: whom the patron pays
    reused: bool  # the patron's open payment for the same fees, sent to its page again
    replaced: list[Replaced] = field(default_factory=list)


async def preview(ctx: Ctx, patron_id: int, fee_ids: Sequence[int] | None = None) -> Preview:
    """What paying `fee_ids` (None: every open fee) would settle and which blocks it lifts."""
    patron = await get_patron(ctx, patron_id)
    return await _preview(ctx, patron, fee_ids)


async def _preview(ctx: Ctx, patron: Patron, fee_ids: Sequence[int] | None) -> Preview:
    blocks, policy, ledger = await account_blocks(ctx, patron)
    institution = await ctx.session.get(Institution, patron.institution_id)
    assert institution is not None
    with_agency = await fees_with_agency(ctx, patron.id)
    open_fees = [
        view
        for view in ledger.views
        if view.status.outstanding_minor > 0 and view.fee.id not in with_agency
    ]
    chosen = _choose(ledger.views, open_fees, fee_ids, with_agency)
    replacements = [
        UnpaidReplacement(v.fee.id, v.fee.created_at, v.status.outstanding_minor)
        for v in open_fees
        if v.fee.type == FeeType.REPLACEMENT
    ]
    paid = {view.fee.id: view.status.outstanding_minor for view in chosen}
    after = blocks_after_paying(blocks, ledger.events, replacements, paid, policy, ctx.clock.now())
    return Preview(patron, institution, policy, open_fees, chosen, blocks, after, len(with_agency))


async def fees_with_agency(ctx: Ctx, patron_id: int) -> set[int]:
    """Fees of a case handed to the collection agency: the agency collects them, and only its
    report lifts that block (R14d), so they are not paid here."""
    rows = await ctx.session.scalars(
        select(CollectionCaseFee.fee_id)
        .join(CollectionCase, CollectionCase.id == CollectionCaseFee.case_id)
        .where(
            CollectionCase.patron_id == patron_id,
            CollectionCase.state == CaseState.HANDED_OVER.value,
        )
    )
    return set(rows.all())


def _choose(
    views: Sequence[FeeView],
    open_fees: Sequence[FeeView],
    fee_ids: Sequence[int] | None,
    with_agency: set[int],
) -> list[FeeView]:
    if fee_ids is None:
        return list(open_fees)
    if len(fee_ids) > MAX_FEES:
        raise InvalidInput("too_many_fees", f"Choose at most {MAX_FEES} fees at a time.")
    wanted = set(fee_ids)
    known = {view.fee.id for view in views}
    if wanted - known:
        # Another patron's fee answers like no fee at all: fee ids are not to be probed.
        raise NotFound("fee_not_found", "No such fee on this account.")
    if wanted & with_agency:
        raise Conflict("fee_with_agency", "A chosen fee is with the collection agency.")
    settled = wanted - {view.fee.id for view in open_fees}
    if settled:
        raise Conflict("fee_settled", "Nothing is owed on a chosen fee any more.")
    return [view for view in open_fees if view.fee.id in wanted]


def new_reference() -> str:
    """Ours, unique and unguessable (64 random bits); 20 letters, digits and dashes, which
    every provider accepts (the card provider's order ids are at most 20 characters)."""
    return "lcp-" + secrets.token_hex(8)


async def start(
    ctx: Ctx,
    patron_id: int,
    provider: str,
    fee_ids: Sequence[int] | None,
    *,
    providers: Sequence[str],
    language: str,
    minutes: int = CHECKOUT_MINUTES,
) -> Started:
    """Record a checkout for the chosen open fees of the acting patron, in state created.

    The provider is asked for its payment page after this commits (checkout.py), so no
    database transaction waits on the provider's network.
    """
    if ctx.actor.kind is not ActorKind.PATRON or ctx.actor.patron_id != patron_id:
        raise Forbidden("forbidden_online_payment", "Patrons pay their own fees online.")
    if provider not in providers:
        raise InvalidInput("provider_unknown", "This way of paying is not offered here.")
    if fee_ids is not None and not fee_ids:
        raise InvalidInput("no_fees_chosen", "Choose at least one fee to pay.")
    # The patron row lock makes two starts at once apply one after the other.
    patron = await get_patron_for_update(ctx, patron_id)
    shown = await _preview(ctx, patron, fee_ids)
    if not shown.chosen:
        raise InvalidInput("nothing_to_pay", "There is nothing to pay on this account.")
    now = ctx.clock.now()
    fees = {view.fee.id: view.status.outstanding_minor for view in shown.chosen}
    replaced: list[Replaced] = []
    for earlier in await _open_payments(ctx, patron.id):
        if await _same_checkout(ctx, earlier, provider, fees, now):
            return Started(earlier, shown.institution.name, reused=True)
        earlier.state = PaymentState.CANCELLED.value
        earlier.failure_reason = "replaced"
        earlier.updated_at = now
        await record_on(ctx, "online_payment:cancel", earlier, reference=earlier.reference)
        replaced.append(Replaced(earlier.provider, earlier.reference, earlier.provider_payment_id))
    payment = OnlinePayment(
        institution_id=patron.institution_id,
        patron_id=patron.id,
        provider=provider,
        state=PaymentState.CREATED.value,
        amount_minor=shown.amount_minor,
        currency=shown.currency,
        reference=new_reference(),
        language=language,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    ctx.session.add(payment)
    await ctx.session.flush()
    ctx.session.add_all(
        OnlinePaymentFee(online_payment_id=payment.id, fee_id=fee_id, amount_minor=amount)
        for fee_id, amount in fees.items()
    )
    await ctx.session.flush()
    await record_on(
        ctx,
        "online_payment:start",
        payment,
        reference=payment.reference,
        provider=provider,
        amount_minor=payment.amount_minor,
        fee_ids=sorted(fees),
    )
    return Started(payment, shown.institution.name, reused=False, replaced=replaced)


async def _open_payments(ctx: Ctx, patron_id: int) -> list[OnlinePayment]:
    query = select(OnlinePayment).where(
        OnlinePayment.patron_id == patron_id,
        OnlinePayment.state.in_([state.value for state in OPEN_STATES]),
    )
    return list((await ctx.session.scalars(query.with_for_update())).all())


async def fees_of_payment(ctx: Ctx, payment: OnlinePayment) -> dict[int, int]:
    rows = await ctx.session.scalars(
        select(OnlinePaymentFee).where(OnlinePaymentFee.online_payment_id == payment.id)
    )
    return {row.fee_id: row.amount_minor for row in rows.all()}


async def _same_checkout(
    ctx: Ctx, earlier: OnlinePayment, provider: str, fees: dict[int, int], now: datetime
) -> bool:
    """The patron went back and pressed the same button: their page is still there."""
    return (
        earlier.provider == provider
        and earlier.state == PaymentState.PENDING.value
        and earlier.redirect_url is not None
        and earlier.expires_at > now
        and await fees_of_payment(ctx, earlier) == fees
    )


async def locked_payment(ctx: Ctx, reference: str) -> OnlinePayment:
    """The payment with our `reference`, locked until commit; "not yours" is "not there".

    The patron row is locked first, as starting a payment and recording money lock it, so
    that a webhook settling one payment and the patron starting another take the two locks in
    the same order and never deadlock."""
    patron_id = await ctx.session.scalar(
        select(OnlinePayment.patron_id).where(OnlinePayment.reference == reference)
    )
    if patron_id is None:
        raise NotFound("payment_not_found", "No payment with this reference.")
    try:
        await get_patron_for_update(ctx, patron_id)
    except NotFound:
        raise NotFound("payment_not_found", "No payment with this reference.") from None
    payment = await ctx.session.scalar(
        select(OnlinePayment)
        .where(OnlinePayment.reference == reference)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if payment is None or not ctx.actor.may_see_patron(payment.patron_id, payment.institution_id):
        raise NotFound("payment_not_found", "No payment with this reference.")
    return payment


async def opened(ctx: Ctx, reference: str, checkout: Checkout) -> OnlinePayment:
    """The provider made its payment page: remember where to send the patron."""
    payment = await locked_payment(ctx, reference)
    if payment.state != PaymentState.CREATED.value:
        return payment  # cancelled by a newer start meanwhile; the page is not shown
    payment.state = PaymentState.PENDING.value
    payment.provider_payment_id = checkout.provider_payment_id[:200]
    payment.redirect_url = checkout.redirect_url[:2000]
    payment.updated_at = ctx.clock.now()
    return payment


async def not_opened(ctx: Ctx, reference: str, reason: str) -> OnlinePayment:
    """The provider refused or could not be reached: the payment ends before it began."""
    payment = await locked_payment(ctx, reference)
    if payment.state == PaymentState.CREATED.value:
        payment.state = PaymentState.FAILED.value
        payment.failure_reason = reason[:200]
        payment.updated_at = ctx.clock.now()
        await record_on(ctx, "online_payment:fail", payment, reason=payment.failure_reason)
    return payment


@dataclass(frozen=True)
class PaymentView:
    """A payment as its patron sees it on the return page and the receipt."""

    payment: OnlinePayment
    institution: Institution
    policy: Policy
    receipt: Receipt | None  # once the payment is in the ledger
    blocks: list[Block]  # what holds now

    @property
    def state(self) -> PaymentState:
        return PaymentState(self.payment.state)

    @property
    def fee_blocks(self) -> list[Block]:
        return [
            b
            for b in self.blocks
            if b.code in (BlockCode.FEE_THRESHOLD, BlockCode.REPLACEMENT_UNPAID)
        ]


async def payment_view(ctx: Ctx, reference: str) -> PaymentView:
    """The payment with `reference` if the actor may see it; a patron sees only their own."""
    payment = await ctx.session.scalar(
        select(OnlinePayment).where(OnlinePayment.reference == reference[:64])
    )
    if payment is None or not ctx.actor.may_see_patron(payment.patron_id, payment.institution_id):
        raise NotFound("payment_not_found", "No payment with this reference.")
    patron = await get_patron(ctx, payment.patron_id)
    blocks, policy, _ = await account_blocks(ctx, patron)
    institution = await ctx.session.get(Institution, patron.institution_id)
    assert institution is not None
    receipt = (
        await receipt_of(ctx, payment.ledger_payment_id)
        if payment.ledger_payment_id is not None
        else None
    )
    return PaymentView(payment, institution, policy, receipt, blocks)
