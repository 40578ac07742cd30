"""What both simulated APIs share: reading JSON bodies, idempotency, URL checks, faults."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from libcard.devtools.paysim.state import Simulation, Stored

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def simulation(request: Request) -> Simulation:
    sim: Simulation = request.app.state.simulation
    return sim


async def json_object(request: Request) -> dict[str, Any] | None:
    """The body as a JSON object; None when it is missing, not JSON, or not an object."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def is_minor_units(value: Any) -> bool:
    # 12.5 or "1250" are not amounts in minor units; True is not an integer either.
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def is_return_url(value: Any) -> bool:
    """An absolute URL; plain http only for a merchant on this machine."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    if parts.scheme == "https":
        return bool(parts.netloc)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK


def fingerprint(request: Request, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True)
    return hashlib.sha256(f"{request.method} {request.url.path} {canonical}".encode()).hexdigest()


def remembered(sim: Simulation, provider: str, key: str, print_: str) -> Stored | bool | None:
    """The stored answer for a repeated request; False when the key was used for another."""
    stored = sim.idempotency.get((provider, key))
    if stored is None:
        return None
    return stored if stored.fingerprint == print_ else False


def remember(
    sim: Simulation, provider: str, key: str, print_: str, status: int, body: Any
) -> JSONResponse:
    sim.idempotency[(provider, key)] = Stored(print_, status, body)
    return JSONResponse(body, status_code=status)


async def injected_fault(sim: Simulation, provider: str) -> Response | None:
    """A fault set by a test: a delay (to make the caller time out), an error status, or both."""
    fault = sim.take_fault(provider)
    if fault is None:
        return None
    if fault.delay_seconds:
        await asyncio.sleep(fault.delay_seconds)
    if fault.status is None:
        return None
    return JSONResponse(
        {"message": "Simulated failure", "status": fault.status}, status_code=fault.status
    )
