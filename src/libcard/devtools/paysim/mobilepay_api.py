"""The part of the Vipps MobilePay APIs libcard uses: the Access Token API and the ePayment API
(create, get, capture, cancel, refund), answering errors as its RFC 7807 problem documents.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from libcard.devtools.paysim import webhooks
from libcard.devtools.paysim.common import (
    fingerprint,
    injected_fault,
    is_minor_units,
    is_return_url,
    json_object,
    remember,
    remembered,
    simulation,
)
from libcard.devtools.paysim.state import MOBILEPAY, Simulation, VippsPayment, utcnow

REFERENCE = re.compile(r"^[a-zA-Z0-9-]{8,64}$")
IDEMPOTENCY_KEY = re.compile(r"^[a-zA-Z0-9-]{1,50}$")
CURRENCIES = {"NOK", "DKK", "EUR", "SEK"}
PROBLEM_BASE = "https://developer.vippsmobilepay.com/docs/APIs/epayment-api/api-guide/errors"


def problem(
    status: int, title: str, detail: str, *, extra: list[dict[str, str]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}#{title.lower().replace(' ', '-')}",
        "title": title,
        "detail": detail,
        "instance": f"urn:uuid:{uuid.uuid4()}",
        "status": str(status),
        "traceId": uuid.uuid4().hex,
    }
    if extra:
        body["extraDetails"] = extra
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def invalid(*reasons: tuple[str, str]) -> JSONResponse:
    return problem(
        400,
        "Validation error",
        "The request body contains one or more validation errors.",
        extra=[{"name": name, "reason": reason} for name, reason in reasons],
    )


async def access_token(request: Request) -> Response:
    sim = simulation(request)
    if fault := await injected_fault(sim, MOBILEPAY):
        return fault
    expected = sim.config.mobilepay
    headers = request.headers
    if headers.get("Ocp-Apim-Subscription-Key") != expected.subscription_key:
        return _bad_subscription_key()
    if (
        headers.get("client_id") != expected.client_id
        or headers.get("client_secret") != expected.client_secret
    ):
        return problem(401, "Unauthorized", "The client_id or client_secret is not valid.")
    token = secrets.token_urlsafe(32)
    sim.tokens.add(token)
    now = int(time.time())
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": "3599",
            "ext_expires_in": "3599",
            "expires_on": str(now + 3599),
            "not_before": str(now),
            "resource": "00000002-0000-0000-c000-000000000000",
            "access_token": token,
        }
    )


def _bad_subscription_key() -> JSONResponse:
    # This one comes from the API gateway in front of the APIs, in the gateway's own format.
    return JSONResponse(
        {
            "statusCode": 401,
            "message": "Access denied due to invalid subscription key. "
            "Make sure to provide a valid key for an active subscription.",
        },
        status_code=401,
    )


async def _guard(request: Request, sim: Simulation) -> Response | None:
    if fault := await injected_fault(sim, MOBILEPAY):
        return fault
    headers = request.headers
    if headers.get("Ocp-Apim-Subscription-Key") != sim.config.mobilepay.subscription_key:
        return _bad_subscription_key()
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or token not in sim.tokens:
        return problem(401, "Unauthorized", "The access token is missing, invalid or expired.")
    if headers.get("Merchant-Serial-Number") != sim.config.mobilepay.merchant_serial_number:
        return problem(403, "Forbidden", "The Merchant-Serial-Number is not valid for the key.")
    return None


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    return key if key and IDEMPOTENCY_KEY.match(key) else None


async def create_payment(request: Request) -> Response:
    sim = simulation(request)
    if refusal := await _guard(request, sim):
        return refusal
    key = _idempotency_key(request)
    if key is None:
        return invalid(("Idempotency-Key", "Required header of 1 to 50 letters, digits or -"))
    body = await json_object(request)
    if body is None:
        return problem(400, "Bad Request", "The request body is not a JSON object.")
    print_ = fingerprint(request, body)
    if (stored := remembered(sim, MOBILEPAY, key, print_)) is not None:
        return _replayed(stored)
    amount = body.get("amount") or {}
    reasons: list[tuple[str, str]] = []
    if not isinstance(amount, dict) or not is_minor_units(amount.get("value")):
        reasons.append(("amount.value", "Must be a positive integer, in minor units"))
    if not isinstance(amount, dict) or amount.get("currency") not in CURRENCIES:
        reasons.append(("amount.currency", "Must be one of " + ", ".join(sorted(CURRENCIES))))
    if (body.get("paymentMethod") or {}).get("type") not in ("WALLET", "CARD"):
        reasons.append(("paymentMethod.type", "Must be WALLET or CARD"))
    reference = body.get("reference")
    if not isinstance(reference, str) or not REFERENCE.match(reference):
        reasons.append(("reference", "Must match ^[a-zA-Z0-9-]{8,64}$"))
    if body.get("userFlow") != "WEB_REDIRECT":
        reasons.append(("userFlow", "The simulator offers WEB_REDIRECT only"))
    if not is_return_url(body.get("returnUrl")):
        reasons.append(("returnUrl", "Must be an absolute https URL"))
    description = body.get("paymentDescription", "")
    if not isinstance(description, str) or len(description) > 100:
        reasons.append(("paymentDescription", "At most 100 characters"))
    if reasons:
        return invalid(*reasons)
    assert isinstance(reference, str)
    if reference in sim.vipps:
        return problem(409, "Conflict", f"A payment with reference {reference} already exists.")
    sim.vipps[reference] = VippsPayment(
        reference=reference,
        currency=amount["currency"],
        value=amount["value"],
        description=description,
        return_url=body["returnUrl"],
        psp_reference=str(uuid.uuid4()),
    )
    answer = {
        "redirectUrl": f"{sim.config.public_url}/pay/mobilepay/{reference}",
        "reference": reference,
    }
    return remember(sim, MOBILEPAY, key, print_, 201, answer)


def _replayed(stored: Any) -> Response:
    if stored is False:
        return problem(409, "Conflict", "The Idempotency-Key was used for another request.")
    return JSONResponse(stored.body, status_code=stored.status)


def details(payment: VippsPayment) -> dict[str, Any]:
    def money(value: int) -> dict[str, Any]:
        return {"currency": payment.currency, "value": value}

    return {
        "aggregate": {
            "authorizedAmount": money(payment.authorized),
            "cancelledAmount": money(payment.cancelled),
            "capturedAmount": money(payment.captured),
            "refundedAmount": money(payment.refunded),
        },
        "amount": money(payment.value),
        "state": payment.state,
        "paymentMethod": {"type": "WALLET"},
        "profile": {},
        "pspReference": payment.psp_reference,
        "reference": payment.reference,
    }


async def get_payment(request: Request) -> Response:
    sim = simulation(request)
    if refusal := await _guard(request, sim):
        return refusal
    payment = sim.vipps.get(request.path_params["reference"])
    if payment is None:
        return problem(404, "Not Found", "No payment with this reference.")
    return JSONResponse(details(payment))


async def modify(request: Request) -> Response:
    """capture, refund, cancel: each needs an Idempotency-Key, and a repeat gets the first
    answer without doing the work twice."""
    sim = simulation(request)
    if refusal := await _guard(request, sim):
        return refusal
    operation = request.path_params["operation"]
    if operation not in ("capture", "cancel", "refund"):
        return problem(404, "Not Found", f"No operation {operation}.")
    payment = sim.vipps.get(request.path_params["reference"])
    if payment is None:
        return problem(404, "Not Found", "No payment with this reference.")
    key = _idempotency_key(request)
    if key is None:
        return invalid(("Idempotency-Key", "Required header of 1 to 50 letters, digits or -"))
    body = await json_object(request)
    if body is None:
        return problem(400, "Bad Request", "The request body is not a JSON object.")
    print_ = fingerprint(request, body)
    if (stored := remembered(sim, MOBILEPAY, key, print_)) is not None:
        return _replayed(stored)
    if operation == "cancel":
        outcome = _cancel(payment)
        value = payment.cancelled or payment.value
    else:
        amount = body.get("modificationAmount") or {}
        if not isinstance(amount, dict) or not is_minor_units(amount.get("value")):
            return invalid(("modificationAmount.value", "Must be a positive integer"))
        if amount.get("currency") != payment.currency:
            return invalid(("modificationAmount.currency", "Must be the payment's currency"))
        value = amount["value"]
        outcome = _capture(payment, value) if operation == "capture" else _refund(payment, value)
    if outcome is not None:
        return problem(400, "Operation not allowed", outcome)
    name = {"capture": "CAPTURED", "refund": "REFUNDED"}.get(operation) or (
        "TERMINATED" if payment.state == "TERMINATED" else "CANCELLED"
    )
    answer = {**details(payment), "pspReference": str(uuid.uuid4())}
    event = _event(sim, payment, name, value, key, answer["pspReference"])
    webhooks.send_later(sim, payment.reference, MOBILEPAY, sim.config.mobilepay_webhook_url, event)
    return remember(sim, MOBILEPAY, key, print_, 200, answer)


def _capture(payment: VippsPayment, value: int) -> str | None:
    if payment.state != "AUTHORIZED":
        return f"A payment in state {payment.state} cannot be captured."
    if value > payment.authorized - payment.captured - payment.cancelled:
        return "The amount is more than what is left to capture."
    payment.captured += value
    return None


def _refund(payment: VippsPayment, value: int) -> str | None:
    if value > payment.captured - payment.refunded:
        return "The amount is more than what is captured and not yet refunded."
    payment.refunded += value
    return None


def _cancel(payment: VippsPayment) -> str | None:
    if payment.state == "CREATED":
        payment.state = "TERMINATED"
        return None
    left = payment.authorized - payment.captured - payment.cancelled
    if payment.state != "AUTHORIZED" or left <= 0:
        return f"A payment in state {payment.state} with nothing left cannot be cancelled."
    payment.cancelled += left
    return None


def _event(
    sim: Simulation,
    payment: VippsPayment,
    name: str,
    value: int,
    idempotency_key: str | None,
    psp_reference: str | None = None,
) -> bytes:
    return webhooks.encode(
        {
            "msn": sim.config.mobilepay.merchant_serial_number,
            "reference": payment.reference,
            "pspReference": psp_reference or str(uuid.uuid4()),
            "name": name,
            "amount": {"currency": payment.currency, "value": value},
            "timestamp": utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "idempotencyKey": idempotency_key,
            "success": True,
        }
    )


async def choose(sim: Simulation, payment: VippsPayment, choice: str) -> bool:
    """The patron's choice in the app (approve, decline) or no choice at all (abandon,
    expire); False when the payment is past choosing."""
    if payment.state != "CREATED":
        return False
    if choice == "approve":
        payment.state, payment.authorized, name = "AUTHORIZED", payment.value, "AUTHORIZED"
    elif choice == "decline":
        payment.state, name = "ABORTED", "ABORTED"
    else:
        payment.state, name = "EXPIRED", "EXPIRED"
    event = _event(sim, payment, name, payment.value, None)
    await webhooks.send(sim, payment.reference, MOBILEPAY, sim.config.mobilepay_webhook_url, event)
    return True


routes = [
    Route("/accesstoken/get", access_token, methods=["POST"]),
    Route("/epayment/v1/payments", create_payment, methods=["POST"]),
    Route("/epayment/v1/payments/{reference}", get_payment, methods=["GET"]),
    Route(
        "/epayment/v1/payments/{reference}/{operation:str}",
        modify,
        methods=["POST"],
    ),
]
