"""The use cases that talk to a provider between units of work: start a checkout, take in a
provider's report (and capture, release or refund as it requires), look a payment up, and
reconcile the payments whose result never arrived.

A provider's answer can take seconds, and a unit of work that writes holds the database's
write lock on SQLite (and the patron's row on PostgreSQL); so no unit stays open while a
provider is asked. Each step that changes the database is its own short unit, and every step
can be repeated: a crash between two leaves a payment that the next report, the patron's
return or reconciliation takes further.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select

from libcard.context import Actor, ActorKind
from libcard.errors import LibcardError
from libcard.kit.i18n import N_, translate
from libcard.notify.service import MailLinks
from libcard.payments import service
from libcard.payments.models import OnlinePayment
from libcard.payments.providers.base import PaymentProvider, ProviderPayment, ProviderState
from libcard.payments.providers.errors import unavailable
from libcard.payments.results import Applied, apply_report, mark_refunded
from libcard.payments.rules import OPEN_STATES, PaymentState, Step
from libcard.runtime import Runtime

log = logging.getLogger("libcard.payments")

Providers = Mapping[str, PaymentProvider]
DESCRIPTION = N_("Fees at %(institution)s")
RECONCILE_AFTER = timedelta(minutes=15)  # a webhook normally comes within seconds
RECONCILE_BATCH = 200


def provider_actor(provider: str) -> Actor:
    """Who acts when a provider's report is applied: libcard, on the provider's word."""
    return Actor(kind=ActorKind.SYSTEM, label=f"online payment ({provider})")


def return_url(public_url: str, reference: str) -> str:
    return f"{public_url.rstrip('/')}/pay/return?ref={reference}"


async def start_checkout(
    runtime: Runtime,
    actor: Actor,
    providers: Providers,
    *,
    patron_id: int,
    provider: str,
    fee_ids: Sequence[int] | None,
    language: str,
    public_url: str,
) -> OnlinePayment:
    """Start paying the chosen fees; the answer's `redirect_url` is the provider's page."""
    async with runtime.unit(actor) as ctx:
        started = await service.start(
            ctx, patron_id, provider, fee_ids, providers=list(providers), language=language
        )
        payment = started.payment
    description = translate(language, DESCRIPTION, institution=started.institution_name)
    for earlier in started.replaced:
        await _quietly_cancel(
            providers, earlier.provider, earlier.reference, earlier.provider_payment_id
        )
    if started.reused:
        return payment
    gateway = providers[provider]
    try:
        checkout = await gateway.create(
            reference=payment.reference,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            description=description,
            return_url=return_url(public_url, payment.reference),
            language=language,
        )
    except Exception as error:
        code = error.code if isinstance(error, LibcardError) else type(error).__name__
        log.warning("checkout %s not opened at %s: %s", payment.reference, provider, code)
        async with runtime.unit(provider_actor(provider)) as ctx:
            await service.not_opened(ctx, payment.reference, code)
        if isinstance(error, LibcardError):
            raise
        raise unavailable(provider) from error
    async with runtime.unit(provider_actor(provider)) as ctx:
        return await service.opened(ctx, payment.reference, checkout)


async def _quietly_cancel(
    providers: Providers, provider: str, reference: str, provider_payment_id: str | None
) -> None:
    """Tell the provider a payment is no longer wanted. If that fails, the payment expires
    there on its own; a capture that comes anyway is recorded (or refunded) when reported."""
    gateway = providers.get(provider)
    if gateway is None or provider_payment_id is None:
        return
    try:
        await gateway.cancel(reference, provider_payment_id)
    except Exception as error:
        log.info("cancelling %s at %s failed: %s", reference, provider, type(error).__name__)


async def receive(
    runtime: Runtime, providers: Providers, provider: str, report: ProviderPayment, links: MailLinks
) -> Applied:
    """Apply a provider's report, then do what it asks of us at the provider: capture money
    reserved (MobilePay), release a reservation we no longer want, or give back money that
    can no longer settle its fees. Refusals (unknown reference, mismatch) propagate."""
    async with runtime.unit(provider_actor(provider)) as ctx:
        applied = await apply_report(ctx, provider, report, links)
    payment = applied.payment
    gateway = providers.get(provider)
    if gateway is None or payment.provider_payment_id is None:
        return applied
    try:
        if applied.step is Step.CAPTURE:
            await gateway.capture(
                payment.reference, payment.provider_payment_id, payment.amount_minor
            )
            # The capture went through: the money is taken, which settles the fees now
            # rather than when the provider's next webhook arrives.
            taken = replace(report, state=ProviderState.CAPTURED, event_id=None)
            async with runtime.unit(provider_actor(provider)) as ctx:
                applied = await apply_report(ctx, provider, taken, links)
        elif applied.step is Step.RELEASE:
            await gateway.cancel(payment.reference, payment.provider_payment_id)
        if applied.refund_minor:
            await gateway.refund(
                payment.reference, payment.provider_payment_id, applied.refund_minor
            )
            async with runtime.unit(provider_actor(provider)) as ctx:
                refunded = await mark_refunded(ctx, payment.reference, "fees_changed")
            applied = Applied(refunded, Step.REFUNDED)
    except Exception as error:
        # Left as it is: the next report, the patron's return or reconciliation tries again.
        code = error.code if isinstance(error, LibcardError) else type(error).__name__
        log.warning(
            "%s of %s at %s failed: %s", applied.step.value, payment.reference, provider, code
        )
    return applied


async def look_up(
    runtime: Runtime, providers: Providers, reference: str, links: MailLinks
) -> Applied | None:
    """Ask the provider how an open payment stands and apply its answer (the patron's return,
    reconciliation). None when there is nothing to ask or the provider cannot say now."""
    async with runtime.unit(readonly=True) as ctx:
        payment = await ctx.session.scalar(
            select(OnlinePayment).where(OnlinePayment.reference == reference)
        )
    if payment is None or PaymentState(payment.state) not in OPEN_STATES:
        return None
    gateway = providers.get(payment.provider)
    now = runtime.clock.now()
    if gateway is None or payment.provider_payment_id is None:
        if payment.expires_at <= now:  # never reached the provider's page
            report = ProviderPayment(
                "", payment.reference, ProviderState.EXPIRED, payment.amount_minor, payment.currency
            )
            async with runtime.unit(provider_actor(payment.provider)) as ctx:
                return await apply_report(ctx, payment.provider, report, links)
        return None
    try:
        report = await gateway.fetch(payment.reference, payment.provider_payment_id)
    except Exception as error:
        code = error.code if isinstance(error, LibcardError) else type(error).__name__
        log.warning("looking up %s at %s failed: %s", reference, payment.provider, code)
        return None
    if report.state is ProviderState.CREATED and payment.expires_at <= now:
        await _quietly_cancel(
            providers, payment.provider, payment.reference, payment.provider_payment_id
        )
        report = replace(report, state=ProviderState.EXPIRED, event_id=None)
    return await receive(runtime, providers, payment.provider, report, links)


@dataclass
class ReconcileReport:
    seen: int = 0
    settled: int = 0
    ended: int = 0  # failed, cancelled or expired
    failures: int = 0

    def summary(self) -> str:
        return (
            f"payments looked up: {self.seen}, settled: {self.settled}, "
            f"ended: {self.ended}, failed lookups: {self.failures}"
        )


async def reconcile(
    runtime: Runtime,
    providers: Providers,
    now: datetime,
    links: MailLinks,
    *,
    older_than: timedelta = RECONCILE_AFTER,
) -> ReconcileReport:
    """Look up every payment still open `older_than` after it started, and settle, fail or
    expire it on the provider's word: a webhook that never came settles nothing otherwise."""
    report = ReconcileReport()
    after = 0
    while True:
        async with runtime.unit(readonly=True) as ctx:
            due = list(
                (
                    await ctx.session.execute(
                        select(OnlinePayment.id, OnlinePayment.reference)
                        .where(
                            OnlinePayment.state.in_([s.value for s in OPEN_STATES]),
                            OnlinePayment.created_at <= now - older_than,
                            OnlinePayment.id > after,
                        )
                        .order_by(OnlinePayment.id)
                        .limit(RECONCILE_BATCH)
                    )
                ).all()
            )
        for payment_id, reference in due:
            after = payment_id
            report.seen += 1
            try:
                applied = await look_up(runtime, providers, reference, links)
            except LibcardError as error:
                log.warning("reconciling %s refused: %s", reference, error.code)
                applied = None
            if applied is None:
                report.failures += 1
                continue
            state = PaymentState(applied.payment.state)
            if state is PaymentState.SUCCEEDED:
                report.settled += 1
            elif state not in OPEN_STATES:
                report.ended += 1
        if len(due) < RECONCILE_BATCH:
            return report
