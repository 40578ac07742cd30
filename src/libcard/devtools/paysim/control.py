"""Control endpoints for tests, under /_sim: act for the patron, replay or spoil a webhook,
hold webhooks back (so that reconciliation must find the payment), inject faults."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from libcard.devtools.paysim import hosted, mobilepay_api, quickpay_api, webhooks
from libcard.devtools.paysim.common import json_object, simulation
from libcard.devtools.paysim.state import MOBILEPAY, Fault, Simulation

ACTIONS = {"approve": "approve", "decline": "decline", "abandon": "abandon", "expire": "abandon"}
RESENDS = {"replay": "replay", "bad-signature": "bad-signature", "tampered": "tampered"}


def _unknown(key: str) -> JSONResponse:
    return JSONResponse({"error": f"no payment {key}"}, status_code=404)


def view(sim: Simulation, provider: str, key: str) -> dict[str, Any]:
    payment: dict[str, Any]
    if provider == MOBILEPAY:
        payment = mobilepay_api.details(sim.vipps[key])
    else:
        payment = quickpay_api.document(sim.quickpay[int(key)])
    return {
        "provider": provider,
        "key": key,
        "payment": payment,
        "webhooks": [d.view() for d in sim.deliveries.get(key) or []],
    }


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def reset(request: Request) -> Response:
    simulation(request).reset()
    return JSONResponse({"ok": True})


async def show(request: Request) -> Response:
    sim = simulation(request)
    found = sim.find(request.path_params["key"])
    if found is None:
        return _unknown(request.path_params["key"])
    return JSONResponse(view(sim, *found))


async def act(request: Request) -> Response:
    """approve, decline, abandon or expire a payment as if on its hosted page."""
    sim = simulation(request)
    key, action = request.path_params["key"], request.path_params["action"]
    found = sim.find(key)
    if found is None:
        return _unknown(key)
    if action not in ACTIONS:
        return JSONResponse({"error": f"no action {action}"}, status_code=404)
    if await hosted.apply(sim, found[0], found[1], ACTIONS[action]) is None:
        return JSONResponse(
            {"error": "the payment no longer waits for the patron", **view(sim, *found)},
            status_code=409,
        )
    return JSONResponse(view(sim, *found))


async def resend(request: Request) -> Response:
    """Send the payment's latest webhook again: as a replay, with a wrong signature, or with a
    body changed after signing."""
    sim = simulation(request)
    key, how = request.path_params["key"], request.path_params["how"]
    found = sim.find(key)
    if found is None:
        return _unknown(key)
    if how == "release":
        released = await webhooks.release(sim, found[1])
        return JSONResponse({"released": len(released), **view(sim, *found)})
    if how not in RESENDS:
        return JSONResponse({"error": f"no webhook action {how}"}, status_code=404)
    sent = await webhooks.resend(sim, found[1], RESENDS[how])
    if sent is None:
        return JSONResponse({"error": "no webhook to send again"}, status_code=409)
    return JSONResponse({"sent": sent.view(), **view(sim, *found)})


async def hold(request: Request) -> Response:
    """{"hold": true} keeps new webhooks back until released; false sends them again."""
    sim = simulation(request)
    body = await json_object(request) or {}
    sim.hold_webhooks = bool(body.get("hold", True))
    return JSONResponse({"hold": sim.hold_webhooks})


async def faults(request: Request) -> Response:
    """{"provider": "card"|"mobilepay"|null, "status": 500|null, "delay_seconds": 0,
    "times": 1}: the next API calls fail (or answer late); DELETE clears them."""
    sim = simulation(request)
    if request.method == "DELETE":
        sim.faults.clear()
        return JSONResponse({"faults": 0})
    body = await json_object(request)
    if body is None:
        return JSONResponse({"error": "a JSON object, please"}, status_code=400)
    provider, status = body.get("provider"), body.get("status")
    delay, times = body.get("delay_seconds", 0), body.get("times", 1)
    if provider not in (None, "card", "mobilepay") or not (
        status is None or (isinstance(status, int) and 400 <= status <= 599)
    ):
        return JSONResponse({"error": "provider or status not understood"}, status_code=400)
    if not isinstance(delay, int | float) or not isinstance(times, int) or times < 1:
        return JSONResponse({"error": "delay_seconds or times not understood"}, status_code=400)
    sim.faults.append(Fault(provider, status, float(delay), times))
    return JSONResponse({"faults": len(sim.faults)})


routes = [
    Route("/_sim/health", health, methods=["GET"]),
    Route("/_sim/reset", reset, methods=["POST"]),
    Route("/_sim/webhooks/hold", hold, methods=["POST"]),
    Route("/_sim/faults", faults, methods=["POST", "DELETE"]),
    Route("/_sim/payments/{key}", show, methods=["GET"]),
    Route("/_sim/payments/{key}/webhooks/{how}", resend, methods=["POST"]),
    Route("/_sim/payments/{key}/{action}", act, methods=["POST"]),
]
