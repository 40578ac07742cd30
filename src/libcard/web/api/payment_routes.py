"""Online payments: the providers' webhooks, and a payment's state for its patron (R16).

A webhook carries no token: the provider's signature over the raw body is what makes it
believable, so the body is handed over untouched before anything is parsed.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Request

from libcard.access.scopes import Scope
from libcard.errors import LibcardError, NotFound, Unauthenticated
from libcard.notify.service import MailLinks
from libcard.payments.checkout import receive
from libcard.payments.configured import providers_for
from libcard.payments.providers.base import WebhookRejected
from libcard.payments.rules import PaymentState
from libcard.payments.service import payment_view
from libcard.runtime import Runtime
from libcard.web.api.deps import ApiDep
from libcard.web.api.payment_schemas import OnlinePaymentOut, WebhookAnswer
from libcard.web.api.schemas import Money

log = logging.getLogger("libcard.payments")
router = APIRouter(tags=["payments"])

ProviderName = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")]
Reference = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


@router.post(
    "/payments/webhooks/{provider}",
    response_model=WebhookAnswer,
    responses={
        400: {"description": "The webhook cannot be read."},
        401: {"description": "The signature is wrong, missing or stale: nothing was recorded."},
        404: {"description": "No such provider, or no payment with the reference."},
        409: {"description": "Amount, currency or payment id differ from ours: refused."},
    },
)
async def webhook(request: Request, provider: ProviderName) -> WebhookAnswer:
    """A provider tells libcard how a payment stands. Believed only with a valid signature;
    a report of money taken settles the payment's fees and lifts the blocks they caused in
    the same transaction. The same event again changes nothing and is answered 200."""
    runtime: Runtime = request.app.state.runtime
    providers = providers_for(request.app.state, runtime.settings)
    gateway = providers.get(provider)
    if gateway is None:
        raise NotFound("provider_unknown", f"No payment provider {provider!r} here.")
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        report = gateway.verify_webhook(path=path, headers=dict(request.headers), body=body)
    except WebhookRejected as error:
        # The adapters' reasons are fixed texts; signatures and bodies are never logged.
        log.warning("webhook from %s rejected: %s", provider, error)
        raise Unauthenticated(
            "webhook_rejected", "The webhook's signature could not be verified."
        ) from None
    except (ValueError, KeyError, TypeError):
        log.warning("webhook from %s unreadable", provider)
        raise LibcardError("webhook_unreadable", "The webhook cannot be read.") from None
    applied = await receive(
        runtime, providers, provider, report, MailLinks(runtime.settings.public_url)
    )
    return WebhookAnswer(
        reference=applied.payment.reference,
        state=PaymentState(applied.payment.state),
        duplicate=applied.duplicate,
    )


@router.get("/payments/{reference}", response_model=OnlinePaymentOut)
async def payment_status(api: ApiDep, reference: Reference) -> OnlinePaymentOut:
    """An online payment by our reference; a token bound to a patron sees only theirs."""
    async with api.unit(Scope.FEES_READ, readonly=True) as ctx:
        view = await payment_view(ctx, reference)
        payment = view.payment
        return OnlinePaymentOut(
            reference=payment.reference,
            provider=payment.provider,
            state=view.state,
            amount=Money.of(payment.amount_minor, payment.currency),
            created_at=payment.created_at,
            expires_at=payment.expires_at,
            failure_reason=payment.failure_reason,
            receipt_id=payment.ledger_payment_id,
        )
