"""MobilePay through the Vipps MobilePay ePayment API (v1) and its Webhooks API.

The payment is known to MobilePay by libcard's reference, so `provider_payment_id` is the
reference itself. The patron approves in the app (WALLET, WEB_REDIRECT); the money is reserved
(AUTHORIZED) until libcard captures it. Webhooks are verified with the HMAC-SHA256 scheme of
the Webhooks API (see `signing.py`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from libcard.payments.providers import signing
from libcard.payments.providers.base import (
    Checkout,
    ProviderPayment,
    ProviderState,
    WebhookRejected,
)
from libcard.payments.providers.errors import ProviderRefused, reference_invalid, unavailable
from libcard.payments.providers.http import exchange

REFERENCE = re.compile(r"^[a-zA-Z0-9-]{8,64}$")
DESCRIPTION_MAX = 100
UNKNOWN_PAYMENT = "payment_unknown_to_provider"

# A webhook's name → the payment's state once that event has happened.
EVENT_STATES = {
    "CREATED": ProviderState.CREATED,
    "AUTHORIZED": ProviderState.AUTHORIZED,
    "CAPTURED": ProviderState.CAPTURED,
    "REFUNDED": ProviderState.REFUNDED,
    "CANCELLED": ProviderState.CANCELLED,
    "ABORTED": ProviderState.CANCELLED,  # the patron stopped the payment in the app
    "TERMINATED": ProviderState.CANCELLED,  # the merchant cancelled it before approval
    "EXPIRED": ProviderState.EXPIRED,
}


def describe_problem(document: Any) -> str:
    """The ePayment API answers errors as RFC 7807 problem documents."""
    parts = [str(document.get(key)) for key in ("title", "detail") if document.get(key)]
    for extra in document.get("extraDetails") or []:
        parts.append(f"{extra.get('name')}: {extra.get('reason')}")
    return "; ".join(parts) or json.dumps(document)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _key(*parts: str) -> str:
    # Idempotency keys are at most 50 characters of [a-zA-Z0-9-]; derived from the operation so
    # that a retry after a lost answer is the same request to MobilePay, not a second one.
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:40]


class MobilePayProvider:
    name = "mobilepay"

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        subscription_key: str,
        merchant_serial_number: str,
        webhook_secret: str,
        timeout: float = 15.0,
        max_webhook_age: timedelta = timedelta(minutes=5),
        now: Callable[[], datetime] = _utcnow,
        system_version: str = "0.1.0",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._subscription_key = subscription_key
        self.merchant_serial_number = merchant_serial_number
        self._webhook_secret = webhook_secret
        self.timeout = timeout
        self.max_webhook_age = max_webhook_age
        self._now = now
        self._system_version = system_version
        self._token: str | None = None
        self._token_until = datetime.min.replace(tzinfo=UTC)

    def __repr__(self) -> str:  # never the secrets
        return f"MobilePayProvider(base_url={self.base_url!r})"

    # -- the API --------------------------------------------------------------------------

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
        # `language` has no place in the ePayment API: the landing page and the app follow the
        # patron's phone.
        if not REFERENCE.match(reference):
            raise reference_invalid(self.name, reference, "8 to 64 letters, digits or hyphens")
        body = {
            "amount": {"currency": currency.upper(), "value": amount_minor},
            "paymentMethod": {"type": "WALLET"},
            "reference": reference,
            "returnUrl": return_url,
            "userFlow": "WEB_REDIRECT",
            "paymentDescription": description[:DESCRIPTION_MAX],
        }
        answer = await self._api("POST", "/epayment/v1/payments", body, _key("create", reference))
        redirect = answer.get("redirectUrl") if isinstance(answer, dict) else None
        if not isinstance(redirect, str):
            raise unavailable(self.name, reason="no redirectUrl in the answer")
        return Checkout(provider_payment_id=reference, redirect_url=redirect)

    async def fetch(self, reference: str, provider_payment_id: str) -> ProviderPayment:
        answer = await self._api("GET", f"/epayment/v1/payments/{provider_payment_id or reference}")
        return payment_from_details(answer)

    async def capture(self, reference: str, provider_payment_id: str, amount_minor: int) -> None:
        await self._modify(provider_payment_id or reference, "capture", amount_minor)

    async def cancel(self, reference: str, provider_payment_id: str) -> None:
        ref = provider_payment_id or reference
        await self._api("POST", f"/epayment/v1/payments/{ref}/cancel", {}, _key("cancel", ref))

    async def refund(self, reference: str, provider_payment_id: str, amount_minor: int) -> None:
        await self._modify(provider_payment_id or reference, "refund", amount_minor)

    async def _modify(self, reference: str, operation: str, amount_minor: int) -> None:
        # The currency of a modification must be the payment's own; ask rather than assume.
        current = await self.fetch(reference, reference)
        body = {"modificationAmount": {"currency": current.currency, "value": amount_minor}}
        key = _key(operation, reference, str(amount_minor))
        await self._api("POST", f"/epayment/v1/payments/{reference}/{operation}", body, key)

    async def _api(
        self, method: str, path: str, body: Any = None, idempotency_key: str | None = None
    ) -> Any:
        for attempt in (1, 2):
            token = await self._access_token()
            headers = {**self._base_headers(), "Authorization": f"Bearer {token}"}
            if idempotency_key is not None:
                headers["Idempotency-Key"] = idempotency_key
            try:
                return await exchange(
                    self.name,
                    base_url=self.base_url,
                    timeout_seconds=self.timeout,
                    method=method,
                    path=path,
                    describe=describe_problem,
                    headers=headers,
                    json_body=body,
                    not_found=UNKNOWN_PAYMENT,
                )
            except ProviderRefused as error:
                # A token MobilePay no longer accepts is fetched anew, once.
                if attempt == 2 or error.details.get("status") != 401:
                    raise
                self._token = None
        raise AssertionError("unreachable")

    def _base_headers(self) -> dict[str, str]:
        return {
            "Ocp-Apim-Subscription-Key": self._subscription_key,
            "Merchant-Serial-Number": self.merchant_serial_number,
            "Vipps-System-Name": "libcard",
            "Vipps-System-Version": self._system_version,
        }

    async def _access_token(self) -> str:
        now = self._now()
        if self._token is not None and now < self._token_until:
            return self._token
        answer = await exchange(
            self.name,
            base_url=self.base_url,
            timeout_seconds=self.timeout,
            method="POST",
            path="/accesstoken/get",
            describe=describe_problem,
            headers={
                **self._base_headers(),
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise unavailable(self.name, reason="no access token in the answer")
        lifetime = int(answer.get("expires_in", 3600))
        # Renewed a minute early, so a token never expires on its way to the API.
        self._token, self._token_until = token, now + timedelta(seconds=max(lifetime - 60, 0))
        return token

    # -- webhooks -------------------------------------------------------------------------

    def verify_webhook(
        self, *, path: str, headers: Mapping[str, str], body: bytes
    ) -> ProviderPayment:
        """`path` is the request's path with its query string, as MobilePay signed it."""
        lower = {key.lower(): value for key, value in headers.items()}
        date, content_hash = lower.get("x-ms-date"), lower.get("x-ms-content-sha256")
        authorization, host = lower.get("authorization"), lower.get("host")
        if not (date and content_hash and authorization and host):
            raise WebhookRejected("the signature headers are missing")
        if not signing.same(signing.vipps_content_hash(body), content_hash):
            raise WebhookRejected("the body does not match its content hash")
        given = signing.vipps_signature_from(authorization)
        expected = signing.vipps_signature(
            secret=self._webhook_secret,
            method="POST",
            path_and_query=path,
            date=date,
            host=host,
            content_hash=content_hash,
        )
        if given is None or not signing.same(expected, given):
            raise WebhookRejected("the signature is wrong")
        try:
            sent = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            raise WebhookRejected("the date cannot be read") from None
        if sent.tzinfo is None or abs(self._now() - sent) > self.max_webhook_age:
            raise WebhookRejected("the webhook is stale")
        # Signed by MobilePay but unreadable: a ValueError, which the route answers with 400.
        try:
            event = json.loads(body)
            payment = payment_from_event(event)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValueError("the body cannot be read") from None
        if str(event.get("msn")) != self.merchant_serial_number:
            raise WebhookRejected("the webhook is for another sales unit")
        return payment


def payment_from_event(event: dict[str, Any]) -> ProviderPayment:
    name = str(event["name"]).upper()
    if name not in EVENT_STATES:
        raise ValueError(name)
    amount = event["amount"]
    state, reason = EVENT_STATES[name], None
    if name == "ABORTED":
        reason = "The patron stopped the payment in MobilePay."
    if event.get("success") is False:
        # A capture, refund or cancellation MobilePay could not carry out leaves the payment
        # as it was: reserved.
        reason = f"MobilePay could not carry out {name.lower()}."
        state = ProviderState.FAILED if name == "AUTHORIZED" else ProviderState.AUTHORIZED
    return ProviderPayment(
        provider_payment_id=str(event["reference"]),
        reference=str(event["reference"]),
        state=state,
        amount_minor=int(amount["value"]),
        currency=str(amount["currency"]),
        event_id=f"{name}:{event['pspReference']}",
        failure_reason=reason,
    )


def payment_from_details(details: Any) -> ProviderPayment:
    """GET /epayment/v1/payments/{reference}: the state, with the aggregate telling what
    happened after authorisation (the state stays AUTHORIZED through capture and refund)."""
    try:
        state = str(details["state"])
        amount = details["amount"]
        aggregate = details.get("aggregate") or {}

        def total(name: str) -> int:
            return int((aggregate.get(name) or {}).get("value", 0))

        mapped, reason = ProviderState.CREATED, None
        if state == "AUTHORIZED":
            if total("refundedAmount") > 0:
                mapped = ProviderState.REFUNDED
            elif total("capturedAmount") > 0:
                mapped = ProviderState.CAPTURED
            elif total("cancelledAmount") > 0:
                mapped = ProviderState.CANCELLED
            else:
                mapped = ProviderState.AUTHORIZED
        elif state in EVENT_STATES:
            mapped = EVENT_STATES[state]
            if state == "ABORTED":
                reason = "The patron stopped the payment in MobilePay."
        else:
            raise ValueError(state)
        return ProviderPayment(
            provider_payment_id=str(details["reference"]),
            reference=str(details["reference"]),
            state=mapped,
            amount_minor=int(amount["value"]),
            currency=str(amount["currency"]),
            failure_reason=reason,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise unavailable("mobilepay", reason="unreadable payment details") from None
