"""A payment provider kept in memory, for the payments domain's own tests.

It implements the provider interface as the adapters do, without HTTP: a payment is created
on `create`, the test plays the patron (`approve`, `decline`) and the provider's webhooks
(`webhook`), signed with HMAC-SHA256 over the body as the real providers sign theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from libcard.payments.providers.base import (
    Checkout,
    ProviderPayment,
    ProviderState,
    WebhookRejected,
)
from libcard.payments.providers.errors import unavailable

SIGNATURE = "x-memory-signature"


@dataclass
class MemoryProvider:
    name: str
    secret: bytes = b"memory-webhook-secret"
    # MobilePay reserves the money first and libcard captures; the card page takes it at once.
    reserves_first: bool = False
    payments: dict[str, ProviderPayment] = field(default_factory=dict)
    captures: list[str] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    refunds: list[tuple[str, int]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False  # answers nothing, like a provider that is unreachable
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _events: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- the interface --------------------------------------------------------------------

    async def create(
        self,
        *,
        reference: str,
        amount_minor: int,
        currency: str,
        description: str,
        return_url: str,
        language: str,
    ) -> Checkout:
        if self.down:
            raise unavailable(self.name, reason="timeout")
        provider_id = f"{self.name}-{next(self._ids)}"
        self.created.append(
            {
                "reference": reference,
                "amount_minor": amount_minor,
                "currency": currency,
                "description": description,
                "return_url": return_url,
                "language": language,
            }
        )
        self.payments[reference] = ProviderPayment(
            provider_id, reference, ProviderState.CREATED, amount_minor, currency
        )
        return Checkout(provider_id, f"https://pay.example/{self.name}/{provider_id}")

    async def fetch(self, reference: str, provider_payment_id: str) -> ProviderPayment:
        if self.down:
            raise unavailable(self.name, reason="timeout")
        return self.payments[reference]

    async def capture(self, reference: str, provider_payment_id: str, amount_minor: int) -> None:
        if self.down:
            raise unavailable(self.name, reason="timeout")
        self.captures.append(reference)
        self._set(reference, ProviderState.CAPTURED)

    async def cancel(self, reference: str, provider_payment_id: str) -> None:
        self.cancels.append(reference)
        if self.payments[reference].state is not ProviderState.CAPTURED:
            self._set(reference, ProviderState.CANCELLED)

    async def refund(self, reference: str, provider_payment_id: str, amount_minor: int) -> None:
        self.refunds.append((reference, amount_minor))
        self._set(reference, ProviderState.REFUNDED)

    def verify_webhook(
        self, *, path: str, headers: Mapping[str, str], body: bytes
    ) -> ProviderPayment:
        given = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE, "")
        if not hmac.compare_digest(given, self._sign(body)):
            raise WebhookRejected("the signature is wrong")
        data = json.loads(body)  # a ValueError for a body that is no JSON
        return ProviderPayment(
            provider_payment_id=data["provider_payment_id"],
            reference=data["reference"],
            state=ProviderState(data["state"]),
            amount_minor=int(data["amount_minor"]),
            currency=data["currency"],
            event_id=data.get("event_id"),
            failure_reason=data.get("failure_reason"),
        )

    # --- the test plays the patron and the provider ----------------------------------------

    def approve(self, reference: str) -> ProviderPayment:
        state = ProviderState.AUTHORIZED if self.reserves_first else ProviderState.CAPTURED
        return self._set(reference, state)

    def decline(self, reference: str, reason: str = "card declined") -> ProviderPayment:
        return self._set(reference, ProviderState.FAILED, failure_reason=reason)

    def abandon(self, reference: str) -> ProviderPayment:
        return self._set(reference, ProviderState.CANCELLED)

    def webhook(
        self, reference: str, /, *, event_id: str | None = None, sign: bool = True, **override: Any
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of the webhook telling the payment's current state."""
        payment = self.payments[reference]
        data = {
            "provider_payment_id": payment.provider_payment_id,
            "reference": payment.reference,
            "state": payment.state.value,
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "event_id": event_id or f"evt-{next(self._events)}",
            "failure_reason": payment.failure_reason,
            **override,
        }
        body = json.dumps(data).encode()
        signature = self._sign(body) if sign else "0" * 64
        return {SIGNATURE: signature, "content-type": "application/json"}, body

    def report(self, reference: str, /, **override: Any) -> ProviderPayment:
        return replace(self.payments[reference], **override)

    def _set(self, reference: str, state: ProviderState, **extra: Any) -> ProviderPayment:
        self.payments[reference] = replace(self.payments[reference], state=state, **extra)
        return self.payments[reference]

    def _sign(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()
