"""A provider's word on a payment (a webhook, or our own lookup) applied to the payment.

The report is checked against what we asked for (reference, amount, currency) before it
changes anything. Money taken becomes one ledger payment, in the same transaction as the
state change, so the blocks it settles are gone at once. Three guards keep that to exactly
one payment however often or concurrently a success arrives: the online payment's row lock,
the ledger's idempotency key (our reference), and the unique webhook event id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from libcard.audit.service import record_on
from libcard.blocks.mail import mail_block_changes
from libcard.blocks.service import account_blocks
from libcard.context import Ctx
from libcard.errors import LibcardError, NotFound, RuleViolation
from libcard.fees.models import Fee
from libcard.fees.rules import PaymentMethod
from libcard.fees.service import pay
from libcard.kit.i18n import N_, moment, money, translate
from libcard.notify.recipient import mail_recipient, recipient
from libcard.notify.service import MailLinks
from libcard.patrons.service import get_patron
from libcard.payments.models import OnlinePayment, WebhookEvent
from libcard.payments.providers.base import ProviderPayment
from libcard.payments.rules import Expected, PaymentState, Step, mismatch, transition
from libcard.payments.service import fees_of_payment, fees_with_agency, locked_payment
from libcard.policy.models import Institution

log = logging.getLogger("libcard.payments")

METHODS = {"card": PaymentMethod.ONLINE_CARD, "mobilepay": PaymentMethod.MOBILEPAY}
METHOD_NAMES = {
    PaymentMethod.ONLINE_CARD: N_("Payment card (online)"),
    PaymentMethod.MOBILEPAY: N_("MobilePay"),
}
ONLINE = N_("Online payment")


@dataclass(frozen=True)
class Applied:
    """What applying a report did, and what the caller must still ask the provider to do."""

    payment: OnlinePayment
    step: Step
    duplicate: bool = False  # this webhook event was applied before
    refund_minor: int = 0  # money taken that can no longer settle its fees: give it back


def method_of(provider: str) -> PaymentMethod:
    return METHODS.get(provider, PaymentMethod.OTHER)


async def apply_report(
    ctx: Ctx, provider: str, report: ProviderPayment, links: MailLinks
) -> Applied:
    """Check `report` against our payment and move it on; settle the fees when money was taken.

    Refused (nothing recorded): an unknown reference, another provider's payment, or a
    report whose amount, currency or provider payment id differs from ours.
    """
    try:
        payment = await locked_payment(ctx, report.reference[:64])
    except NotFound:
        log.warning("payment report refused: unknown reference (provider %s)", provider)
        raise
    if payment.provider != provider:
        log.warning(
            "payment report refused: %s reported on a %s payment", provider, payment.provider
        )
        raise NotFound("payment_not_found", "No payment with this reference.")
    wrong = mismatch(
        Expected(
            payment.reference, payment.amount_minor, payment.currency, payment.provider_payment_id
        ),
        report,
    )
    if wrong is not None:
        # Amounts and references are no secrets; signatures and bodies are never logged.
        log.warning(
            "payment report refused: %s for %s (reported %s %s, expected %s %s)",
            wrong,
            payment.reference,
            report.amount_minor,
            report.currency,
            payment.amount_minor,
            payment.currency,
        )
        raise RuleViolation(
            "payment_report_mismatch",
            "The report does not match the payment it names.",
            reason=wrong,
        )
    if report.event_id is not None and await _seen(ctx, provider, report.event_id):
        return Applied(payment, Step.NOTHING, duplicate=True)

    now = ctx.clock.now()
    change = transition(PaymentState(payment.state), report.state)
    refund = 0
    if change.step is Step.SETTLE:
        refund = await _settle(ctx, payment, links)
    elif change.step is Step.CAPTURE:
        payment.authorized_at = payment.authorized_at or now
    elif change.step is Step.END:
        payment.failure_reason = (report.failure_reason or change.state.value)[:200]
        await record_on(
            ctx,
            f"online_payment:{change.state.value}",
            payment,
            reference=payment.reference,
            reason=payment.failure_reason,
        )
    elif change.step is Step.REFUNDED:
        # Given back at the provider's end; the ledger keeps the payment until staff refund
        # the fees, which needs a reason only a person can give.
        log.warning("payment %s was refunded at the provider", payment.reference)
        await record_on(ctx, "online_payment:refunded", payment, reference=payment.reference)
    # Before the refund's return: giving money back needs the provider's payment id.
    if payment.provider_payment_id is None and report.provider_payment_id:
        payment.provider_payment_id = report.provider_payment_id[:200]
    if refund:
        # Unchanged state and no event row: a replay or the next lookup tries again.
        return Applied(payment, Step.SETTLE, refund_minor=refund)
    if change.state.value != payment.state:
        payment.state = change.state.value
        payment.updated_at = now
    if report.event_id is not None:
        ctx.session.add(
            WebhookEvent(
                provider=provider,
                event_id=report.event_id[:200],
                online_payment_id=payment.id,
                state=report.state.value,
                received_at=now,
            )
        )
    await ctx.session.flush()
    return Applied(payment, change.step)


async def _seen(ctx: Ctx, provider: str, event_id: str) -> bool:
    found = await ctx.session.scalar(
        select(WebhookEvent.id).where(
            WebhookEvent.provider == provider, WebhookEvent.event_id == event_id[:200]
        )
    )
    return found is not None


async def _settle(ctx: Ctx, payment: OnlinePayment, links: MailLinks) -> int:
    """Record the money in the ledger and pay the payment's fees; mail the receipt and the
    lifted blocks. Returns the amount to give back when the fees no longer owe it (paid at
    the desk meanwhile, say), else 0."""
    patron = await get_patron(ctx, payment.patron_id)
    before, _, _ = await account_blocks(ctx, patron)
    fees = await fees_of_payment(ctx, payment)
    if set(fees) & await fees_with_agency(ctx, patron.id):
        # Handed to the agency after the payment started: the agency collects these fees now,
        # and paying them here too would have the patron pay twice; the money goes back.
        log.warning("payment %s pays fees now with the collection agency", payment.reference)
        await record_on(
            ctx,
            "online_payment:unsettled",
            payment,
            reference=payment.reference,
            code="fees_with_agency",
        )
        return payment.amount_minor
    try:
        entry = await pay(
            ctx,
            patron.id,
            payment.amount_minor,
            method=method_of(payment.provider),
            idempotency_key=payment.reference,
            reference=payment.reference,
            fee_ids=sorted(fees),
            currency=payment.currency,
        )
    except LibcardError as error:
        # `pay` refuses before it writes anything, so nothing half-done stays.
        log.warning("payment %s cannot settle its fees (%s)", payment.reference, error.code)
        await record_on(
            ctx, "online_payment:unsettled", payment, reference=payment.reference, code=error.code
        )
        return payment.amount_minor
    payment.ledger_payment_id = entry.id
    await record_on(
        ctx,
        "online_payment:succeed",
        payment,
        reference=payment.reference,
        ledger_payment_id=entry.id,
    )
    after, _, _ = await account_blocks(ctx, patron)
    await _mail_receipt(ctx, payment, entry.created_at, fees, links)
    await mail_block_changes(ctx, patron, before, after)
    return 0


async def _mail_receipt(
    ctx: Ctx, payment: OnlinePayment, paid_at: datetime, fees: dict[int, int], links: MailLinks
) -> None:
    patron = await get_patron(ctx, payment.patron_id)
    institution = await ctx.session.get(Institution, patron.institution_id)
    to = recipient(patron, institution) if institution is not None else None
    if to is None:
        return  # no address to send it to; the portal shows the receipt
    rows = await ctx.session.scalars(select(Fee).where(Fee.id.in_(fees)).order_by(Fee.created_at))
    lines = [
        {"text": fee.description, "amount": money(fees[fee.id], payment.currency, to.language)}
        for fee in rows.all()
    ]
    await mail_recipient(
        ctx,
        to,
        "payment_receipt",
        amount=money(payment.amount_minor, payment.currency, to.language),
        paid_at=moment(paid_at, to.language, to.timezone),
        method=translate(to.language, METHOD_NAMES.get(method_of(payment.provider), ONLINE)),
        reference=payment.reference,
        lines=lines,
        receipt_url=f"{links.base_url.rstrip('/')}/pay/receipt/{payment.reference}",
    )


async def mark_refunded(ctx: Ctx, reference: str, reason: str) -> OnlinePayment:
    """Money that could not settle its fees was given back at the provider."""
    payment = await locked_payment(ctx, reference)
    if payment.state != PaymentState.SUCCEEDED.value:
        payment.state = PaymentState.REFUNDED.value
        payment.failure_reason = reason[:200]
        payment.updated_at = ctx.clock.now()
        await record_on(ctx, "online_payment:refund", payment, reference=reference, reason=reason)
    return payment
