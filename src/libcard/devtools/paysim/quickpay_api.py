"""The part of the QuickPay API (v10) libcard uses: payments, their link, capture, cancel and
refund, with Basic authentication by API key and QuickPay's error documents.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from libcard.devtools.paysim import webhooks
from libcard.devtools.paysim.common import (
    injected_fault,
    is_minor_units,
    is_return_url,
    json_object,
    simulation,
)
from libcard.devtools.paysim.state import CARD, QuickPayPayment, Simulation, utcnow

ORDER_ID = re.compile(r"^[a-zA-Z0-9-]{4,20}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
LANGUAGES = {"da", "de", "en", "sv", "no", "fi", "fr", "es", "it", "nl", "pl"}
APPROVED = ("20000", "Approved")
DECLINED = ("40000", "Rejected By Acquirer")


def error(status: int, message: str, errors: dict[str, list[str]] | None = None) -> JSONResponse:
    return JSONResponse(
        {"message": message, "errors": errors or {}, "error_code": None}, status_code=status
    )


def invalid(**errors: list[str]) -> JSONResponse:
    return error(400, "Validation error", errors)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def document(payment: QuickPayPayment) -> dict[str, Any]:
    captured = sum(
        op["amount"] or 0
        for op in payment.operations
        if op["type"] == "capture" and op["qp_status_code"] == APPROVED[0]
    )
    refunded = sum(
        op["amount"] or 0
        for op in payment.operations
        if op["type"] == "refund" and op["qp_status_code"] == APPROVED[0]
    )
    return {
        "id": payment.id,
        "merchant_id": 1,
        "order_id": payment.order_id,
        "accepted": payment.accepted,
        "type": "Payment",
        "text_on_statement": None,
        "branding_id": None,
        "variables": payment.variables,
        "currency": payment.currency,
        "state": payment.state,
        "metadata": {"type": "card", "brand": "visa", "last4": "0008"} if payment.accepted else {},
        "link": payment.link,
        "shipping_address": None,
        "invoice_address": None,
        "basket": [],
        "shipping": None,
        "operations": payment.operations,
        "test_mode": True,
        "acquirer": "clearhaus",
        "facilitator": None,
        "retented_at": None,
        "balance": captured - refunded,
        "fee": None,
        "created_at": _iso(payment.created_at),
        "updated_at": _iso(payment.updated_at),
    }


async def _guard(request: Request, sim: Simulation) -> Response | None:
    if fault := await injected_fault(sim, CARD):
        return fault
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        password = base64.b64decode(encoded).decode().partition(":")[2]
    except ValueError:
        password = ""
    if scheme != "Basic" or password != sim.config.card.api_key:
        return error(401, "Invalid API key")
    if request.headers.get("Accept-Version") != "v10":
        return error(400, "Accept-Version header must be v10")
    return None


async def create_payment(request: Request) -> Response:
    sim = simulation(request)
    if refusal := await _guard(request, sim):
        return refusal
    body = await json_object(request)
    if body is None:
        return error(400, "Request body is not valid JSON")
    order_id, currency = body.get("order_id"), body.get("currency")
    problems: dict[str, list[str]] = {}
    if not isinstance(order_id, str) or not ORDER_ID.match(order_id):
        problems["order_id"] = ["must be 4 to 20 characters of a-z, A-Z, 0-9 and -"]
    elif any(p.order_id == order_id for p in sim.quickpay.values()):
        problems["order_id"] = ["already exists on another payment"]
    if not isinstance(currency, str) or not CURRENCY.match(currency.upper()):
        problems["currency"] = ["is not a valid ISO 4217 currency code"]
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        problems["variables"] = ["must be an object"]
    if problems:
        return invalid(**problems)
    assert isinstance(order_id, str)
    assert isinstance(currency, str)
    payment = QuickPayPayment(
        id=sim.next_payment_id(), order_id=order_id, currency=currency.upper(), variables=variables
    )
    sim.quickpay[payment.id] = payment
    return JSONResponse(document(payment), status_code=201)


async def list_payments(request: Request) -> Response:
    sim = simulation(request)
    if refusal := await _guard(request, sim):
        return refusal
    order_id = request.query_params.get("order_id")
    found = [p for p in sim.quickpay.values() if order_id is None or p.order_id == order_id]
    return JSONResponse([document(p) for p in found])


def _payment(sim: Simulation, request: Request) -> QuickPayPayment | None:
    try:
        return sim.quickpay.get(int(request.path_params["id"]))
    except ValueError:
        return None


async def get_payment(request: Request) -> Response:
    sim = simulation(request)
    if refusal := await _guard(request, sim):
        return refusal
    payment = _payment(sim, request)
    if payment is None:
        return error(404, "Not found: No Payment with id " + request.path_params["id"])
    return JSONResponse(document(payment))


async def put_link(request: Request) -> Response:
    sim = simulation(request)
    if refusal := await _guard(request, sim):
        return refusal
    payment = _payment(sim, request)
    if payment is None:
        return error(404, "Not found: No Payment with id " + request.path_params["id"])
    body = await json_object(request)
    if body is None:
        return error(400, "Request body is not valid JSON")
    problems: dict[str, list[str]] = {}
    if not is_minor_units(body.get("amount")):
        problems["amount"] = ["must be a positive integer in the smallest unit of the currency"]
    for name in ("continue_url", "cancel_url", "callback_url"):
        if body.get(name) is not None and not is_return_url(body[name]):
            problems[name] = ["is not a valid URL"]
    if body.get("language", "en") not in LANGUAGES:
        problems["language"] = ["is not supported"]
    deadline = body.get("deadline")
    if deadline is not None and not is_minor_units(deadline):
        problems["deadline"] = ["must be a positive number of seconds"]
    if payment.state != "initial":
        problems["state"] = [f"a link cannot be made for a payment in state {payment.state}"]
    if problems:
        return invalid(**problems)
    url = f"{sim.config.public_url}/pay/card/{payment.id}"
    payment.link = {
        "url": url,
        "agreement_id": 1,
        "language": body.get("language", "en"),
        "amount": body["amount"],
        "continue_url": body.get("continue_url"),
        "cancel_url": body.get("cancel_url"),
        "callback_url": body.get("callback_url"),
        "payment_methods": body.get("payment_methods"),
        "auto_capture": bool(body.get("auto_capture", False)),
        "deadline": deadline,
    }
    payment.updated_at = utcnow()
    return JSONResponse({"url": url})


def _operation(sim: Simulation, kind: str, amount: int | None, outcome: tuple[str, str]) -> Any:
    return {
        "id": sim.next_operation_id(),
        "type": kind,
        "amount": amount,
        "pending": False,
        "qp_status_code": outcome[0],
        "qp_status_msg": outcome[1],
        "aq_status_code": outcome[0],
        "aq_status_msg": "Approved" if outcome == APPROVED else "Declined",
        "data": {},
        "acquirer": "clearhaus",
        "created_at": _iso(utcnow()),
    }


def _total(payment: QuickPayPayment, kind: str) -> int:
    return sum(
        op["amount"] or 0
        for op in payment.operations
        if op["type"] == kind and op["qp_status_code"] == APPROVED[0]
    )


async def operate(request: Request) -> Response:
    """capture, refund, cancel. The simulator always works as if `synchronized` was asked for:
    the answer shows the finished operation."""
    sim = simulation(request)
    if refusal := await _guard(request, sim):
        return refusal
    payment = _payment(sim, request)
    if payment is None:
        return error(404, "Not found: No Payment with id " + request.path_params["id"])
    kind = request.path_params["operation"]
    if kind not in ("capture", "refund", "cancel"):
        return error(404, f"Not found: no operation {kind}")
    body = await json_object(request)
    if body is None:
        return error(400, "Request body is not valid JSON")
    amount = body.get("amount")
    if kind != "cancel" and not is_minor_units(amount):
        return invalid(amount=["must be a positive integer in the smallest unit of the currency"])
    authorized = _total(payment, "authorize")
    captured, refunded = _total(payment, "capture"), _total(payment, "refund")
    cancelled = any(op["type"] == "cancel" for op in payment.operations)
    refusal_reason = None
    if kind == "capture" and (not payment.accepted or cancelled):
        refusal_reason = f"not allowed in state {payment.state}"
    elif kind == "capture" and isinstance(amount, int) and amount > authorized - captured:
        return invalid(amount=["exceeds the amount left to capture"])
    elif kind == "refund" and isinstance(amount, int) and amount > captured - refunded:
        return invalid(amount=["exceeds the captured amount not yet refunded"])
    elif kind == "cancel" and (captured > 0 or cancelled or payment.state == "rejected"):
        refusal_reason = f"not allowed in state {payment.state}"
    if refusal_reason is not None:
        return invalid(state=[refusal_reason])
    payment.operations.append(_operation(sim, kind, amount, APPROVED))
    payment.state = "processed" if kind != "capture" or amount == authorized - captured else "new"
    payment.updated_at = utcnow()
    _callback_later(sim, payment)
    return JSONResponse(document(payment), status_code=202)


def _callback_url(sim: Simulation, payment: QuickPayPayment) -> str | None:
    link = payment.link or {}
    return link.get("callback_url") or sim.config.card_callback_url


def _callback_later(sim: Simulation, payment: QuickPayPayment) -> None:
    body = webhooks.encode(document(payment))
    webhooks.send_later(sim, str(payment.id), CARD, _callback_url(sim, payment), body)


async def choose(sim: Simulation, payment: QuickPayPayment, choice: str) -> bool:
    """The patron's choice in the payment window; abandoning sends no callback (QuickPay sends
    none), it only lets the link's deadline pass."""
    if payment.state != "initial" or payment.link is None:
        return False
    amount = payment.link["amount"]
    if choice == "approve":
        payment.operations.append(_operation(sim, "authorize", amount, APPROVED))
        payment.state, payment.accepted = "new", True
    elif choice == "decline":
        payment.operations.append(_operation(sim, "authorize", amount, DECLINED))
        payment.state = "rejected"
    else:
        deadline = payment.link.get("deadline") or 20 * 60
        # Time passes in the simulation: the payment is made older than its link's deadline.
        payment.created_at -= timedelta(seconds=int(deadline) + 1)
        payment.updated_at = utcnow()
        return True
    payment.updated_at = utcnow()
    body = webhooks.encode(document(payment))
    await webhooks.send(sim, str(payment.id), CARD, _callback_url(sim, payment), body)
    return True


def return_url(payment: QuickPayPayment, choice: str) -> str | None:
    link = payment.link or {}
    return link.get("continue_url") if choice == "approve" else link.get("cancel_url")


routes = [
    Route("/payments", create_payment, methods=["POST"]),
    Route("/payments", list_payments, methods=["GET"]),
    Route("/payments/{id}", get_payment, methods=["GET"]),
    Route("/payments/{id}/link", put_link, methods=["PUT"]),
    Route("/payments/{id}/{operation}", operate, methods=["POST"]),
]
