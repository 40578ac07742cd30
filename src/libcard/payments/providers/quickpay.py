"""Payment cards through QuickPay (API v10, https://api.quickpay.net).

A payment is created for libcard's reference (QuickPay's `order_id`, unique per account), then a
payment link (QuickPay's hosted payment window) is made for the amount. The card is authorised
there; libcard captures. QuickPay's callbacks carry the whole payment, signed with the account's
private key (`QuickPay-Checksum-Sha256`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from libcard.errors import NotFound
from libcard.payments.providers import signing
from libcard.payments.providers.base import (
    Checkout,
    ProviderPayment,
    ProviderState,
    WebhookRejected,
)
from libcard.payments.providers.errors import (
    ProviderRefused,
    reference_invalid,
    refused,
    unavailable,
)
from libcard.payments.providers.http import exchange

ORDER_ID = re.compile(r"^[a-zA-Z0-9-]{4,20}$")
APPROVED = "20000"
UNKNOWN_PAYMENT = "payment_unknown_to_provider"
LANGUAGES = {"da", "de", "en"}


def describe_error(document: Any) -> str:
    """QuickPay answers errors as {"message": …, "errors": {field: [reasons]}, "error_code": …}."""
    parts = [str(document.get("message") or "")]
    for field, reasons in (document.get("errors") or {}).items():
        parts.append(f"{field}: {', '.join(str(r) for r in reasons)}")
    return "; ".join(p for p in parts if p) or json.dumps(document)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QuickPayProvider:
    name = "card"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        private_key: str,
        callback_url: str,
        timeout: float = 15.0,
        link_deadline: timedelta = timedelta(minutes=20),
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._private_key = private_key
        self.callback_url = callback_url
        self.timeout = timeout
        self.link_deadline = link_deadline
        self._now = now

    def __repr__(self) -> str:  # never the keys
        return f"QuickPayProvider(base_url={self.base_url!r})"

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
        if not ORDER_ID.match(reference):
            raise reference_invalid(self.name, reference, "4 to 20 letters, digits or hyphens")
        # order_id is unique per account: a payment made by an earlier attempt whose answer was
        # lost is found and reused rather than refused as a duplicate.
        payment = await self._by_order_id(reference)
        if payment is None:
            payment = await self._api(
                "POST",
                "/payments",
                {
                    "order_id": reference,
                    "currency": currency.upper(),
                    "variables": {"description": description[:200]},
                },
            )
        link = await self._api(
            "PUT",
            f"/payments/{payment['id']}/link",
            {
                "amount": amount_minor,
                "continue_url": return_url,
                "cancel_url": return_url,
                "callback_url": self.callback_url,
                "language": language if language in LANGUAGES else "en",
                "deadline": int(self.link_deadline.total_seconds()),
            },
        )
        if not isinstance(link, dict) or not isinstance(link.get("url"), str):
            raise unavailable(self.name, reason="no link url in the answer")
        return Checkout(provider_payment_id=str(payment["id"]), redirect_url=link["url"])

    async def fetch(self, reference: str, provider_payment_id: str) -> ProviderPayment:
        if provider_payment_id:
            payment = await self._api("GET", f"/payments/{provider_payment_id}")
        else:
            payment = await self._by_order_id(reference)
            if payment is None:
                raise NotFound(UNKNOWN_PAYMENT, "The card payment provider has no such payment.")
        return self.payment_from(payment)

    async def capture(self, reference: str, provider_payment_id: str, amount_minor: int) -> None:
        await self._operate(
            provider_payment_id, "capture", {"amount": amount_minor}, ProviderState.CAPTURED
        )

    async def cancel(self, reference: str, provider_payment_id: str) -> None:
        await self._operate(provider_payment_id, "cancel", None, ProviderState.CANCELLED)

    async def refund(self, reference: str, provider_payment_id: str, amount_minor: int) -> None:
        await self._operate(provider_payment_id, "refund", {"amount": amount_minor}, None)

    async def _operate(
        self, payment_id: str, operation: str, body: Any, done: ProviderState | None
    ) -> None:
        """Run an operation synchronously and insist that QuickPay approved it. A capture or
        cancellation repeated after a lost answer finds its work done, and that is success."""
        path = f"/payments/{payment_id}/{operation}"
        try:
            payment = await self._api("POST", path, body or {}, params={"synchronized": ""})
        except ProviderRefused:
            if done is not None and (await self.fetch("", payment_id)).state == done:
                return
            raise
        latest = _latest(payment, operation)
        if latest is None or latest.get("pending"):
            raise unavailable(self.name, reason=f"{operation} still pending")
        if str(latest.get("qp_status_code")) != APPROVED:
            raise refused(
                self.name,
                status=202,
                provider_detail=f"{operation}: {latest.get('qp_status_msg')}",
            )

    async def _by_order_id(self, order_id: str) -> dict[str, Any] | None:
        found = await self._api("GET", "/payments", params={"order_id": order_id})
        for payment in found if isinstance(found, list) else []:
            if payment.get("order_id") == order_id:
                return dict(payment)
        return None

    async def _api(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        return await exchange(
            self.name,
            base_url=self.base_url,
            timeout_seconds=self.timeout,
            method=method,
            path=path,
            describe=describe_error,
            headers={"Accept-Version": "v10", "Accept": "application/json"},
            json_body=body,
            params=params,
            auth=httpx.BasicAuth("", self._api_key),
            not_found=UNKNOWN_PAYMENT,
        )

    def verify_webhook(
        self, *, path: str, headers: Mapping[str, str], body: bytes
    ) -> ProviderPayment:
        lower = {key.lower(): value for key, value in headers.items()}
        given = lower.get("quickpay-checksum-sha256")
        if not given:
            raise WebhookRejected("the checksum header is missing")
        expected = signing.quickpay_checksum(private_key=self._private_key, body=body)
        if not signing.same(expected, given.strip().lower()):
            raise WebhookRejected("the checksum is wrong")
        if lower.get("quickpay-resource-type", "Payment") != "Payment":
            raise WebhookRejected("the callback is not about a payment")
        # Signed by QuickPay but unreadable: a ValueError, which the route answers with 400.
        try:
            payment = json.loads(body)
            result = self.payment_from(payment, strict=True)
            operations = payment.get("operations") or []
            last = operations[-1] if operations else {}
            # QuickPay sends the same body again when it retries; the operation names the event.
            event_id = f"{payment['id']}:{last.get('id', 0)}:{last.get('qp_status_code')}"
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise ValueError("the body cannot be read") from None
        return ProviderPayment(
            provider_payment_id=result.provider_payment_id,
            reference=result.reference,
            state=result.state,
            amount_minor=result.amount_minor,
            currency=result.currency,
            event_id=event_id,
            failure_reason=result.failure_reason,
        )

    def payment_from(self, payment: Any, *, strict: bool = False) -> ProviderPayment:
        try:
            state, reason = self._state(payment)
            return ProviderPayment(
                provider_payment_id=str(payment["id"]),
                reference=str(payment["order_id"]),
                state=state,
                amount_minor=_amount(payment),
                currency=str(payment["currency"]),
                failure_reason=reason,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            if strict:
                raise
            raise unavailable(self.name, reason="unreadable payment") from None

    def _state(self, payment: dict[str, Any]) -> tuple[ProviderState, str | None]:
        state = payment["state"]
        done = {
            op["type"]
            for op in payment.get("operations") or []
            if not op.get("pending") and str(op.get("qp_status_code")) == APPROVED
        }
        authorize = _latest(payment, "authorize")
        if state == "rejected":
            return ProviderState.FAILED, _message(authorize) or "The card was declined."
        if "refund" in done:
            return ProviderState.REFUNDED, None
        if "capture" in done:
            return ProviderState.CAPTURED, None
        if "cancel" in done:
            return ProviderState.CANCELLED, None
        if state in ("new", "processed") and payment.get("accepted"):
            return ProviderState.AUTHORIZED, None
        if (
            authorize is not None
            and not authorize.get("pending")
            and str(authorize.get("qp_status_code")) != APPROVED
        ):
            return ProviderState.FAILED, _message(authorize) or "The card was declined."
        if state in ("initial", "pending") and self._link_expired(payment):
            return ProviderState.EXPIRED, None
        return ProviderState.CREATED, None

    def _link_expired(self, payment: dict[str, Any]) -> bool:
        # QuickPay has no "expired" state: a payment never authorised whose link's deadline has
        # passed can no longer be paid, and that is what libcard calls expired.
        link = payment.get("link") or {}
        deadline = link.get("deadline")
        seconds = int(deadline) if deadline else int(self.link_deadline.total_seconds())
        created = datetime.fromisoformat(str(payment["created_at"]).replace("Z", "+00:00"))
        return self._now() >= created + timedelta(seconds=seconds)


def _latest(payment: Any, operation: str) -> dict[str, Any] | None:
    matching = [op for op in payment.get("operations") or [] if op.get("type") == operation]
    return dict(matching[-1]) if matching else None


def _message(operation: dict[str, Any] | None) -> str | None:
    if operation is None:
        return None
    return str(operation.get("aq_status_msg") or operation.get("qp_status_msg") or "") or None


def _amount(payment: dict[str, Any]) -> int:
    authorize = _latest(payment, "authorize")
    if authorize is not None and authorize.get("amount") is not None:
        return int(authorize["amount"])
    link = payment.get("link") or {}
    return int(link.get("amount") or 0)
