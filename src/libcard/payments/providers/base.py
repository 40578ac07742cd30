"""The interface every payment provider adapter implements.

The payments service knows providers only through this: it asks for a checkout (a hosted
payment page to send the patron to), looks a payment up, captures, cancels or refunds it, and
hands a webhook's raw request over for verification. Amounts are minor units (øre, cent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ProviderState(StrEnum):
    """A payment as the provider sees it, mapped from the provider's own words."""

    CREATED = "created"  # made, the patron has not finished the payment page
    AUTHORIZED = "authorized"  # the patron approved; money reserved, not yet captured
    CAPTURED = "captured"  # money taken: the payment succeeded
    FAILED = "failed"  # declined or refused
    CANCELLED = "cancelled"  # the patron or the library gave up
    EXPIRED = "expired"  # the patron never finished in time
    REFUNDED = "refunded"


class WebhookRejected(Exception):
    """A webhook that must not be believed: bad signature, stale, or unreadable."""


@dataclass(frozen=True)
class Checkout:
    provider_payment_id: str
    redirect_url: str  # the hosted payment page


@dataclass(frozen=True)
class ProviderPayment:
    provider_payment_id: str
    reference: str  # libcard's reference for the payment, as sent at create
    state: ProviderState
    amount_minor: int
    currency: str
    event_id: str | None = None  # a webhook's own id, for idempotency
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    name: str  # "card" or "mobilepay"

    async def create(
        self,
        *,
        reference: str,
        amount_minor: int,
        currency: str,
        description: str,
        return_url: str,
        language: str,
    ) -> Checkout: ...

    async def fetch(self, reference: str, provider_payment_id: str) -> ProviderPayment: ...

    async def capture(
        self, reference: str, provider_payment_id: str, amount_minor: int
    ) -> None: ...

    async def cancel(self, reference: str, provider_payment_id: str) -> None: ...

    async def refund(self, reference: str, provider_payment_id: str, amount_minor: int) -> None: ...

    def verify_webhook(
        self, *, path: str, headers: Mapping[str, str], body: bytes
    ) -> ProviderPayment:
        """The payment a webhook reports. Raises WebhookRejected when the webhook is not
        proven to come from the provider (signature, age, account), and ValueError when it
        is, but its body cannot be read."""
        ...
