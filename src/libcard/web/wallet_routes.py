"""Apple's pass web service (Wallet Passes web service reference), under /wallet/apple/v1.

Phones call these routes, not people: a pass names `webServiceURL` = public URL +
/wallet/apple, and Wallet appends the paths below. Requests about one pass carry
`Authorization: ApplePass <token>`; a wrong or missing token answers 401 with nothing else.
Errors are problem documents like the API's; Wallet looks only at the status code.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from libcard.context import Actor, ActorKind
from libcard.errors import NotFound
from libcard.runtime import Runtime
from libcard.wallet.apple_service import (
    PKPASS_TYPE,
    AppleWallet,
    authenticated_pass,
    register_device,
    signed_pass,
    unregister_device,
    updated_serials,
)
from libcard.web.wallets import wallets

log = logging.getLogger(__name__)
router = APIRouter(prefix="/wallet/apple/v1", include_in_schema=False)

# A phone acts for the pass it holds; the token proves it holds that pass.
WALLET_DEVICE = Actor(kind=ActorKind.SERVICE, label="Apple Wallet device")
AUTH_SCHEME = "ApplePass "
MAX_LOG_LINES = 50
MAX_LOG_LINE = 500

AuthorizationHeader = Annotated[str | None, Header(alias="Authorization")]


class RegistrationIn(BaseModel):
    pushToken: str = Field(min_length=1, max_length=200)  # Apple's field name


class LogIn(BaseModel):
    logs: list[str] = Field(default_factory=list, max_length=1000)


def _wallet(request: Request) -> AppleWallet:
    """The configured Apple Wallet; 404 while it is not set up."""
    wallet = wallets(request).apple
    if wallet is None:
        raise NotFound("wallet_unavailable", "Apple Wallet passes are not offered here.")
    return wallet


def _token(authorization: str | None) -> str | None:
    if authorization is None or not authorization.startswith(AUTH_SCHEME):
        return None
    return authorization.removeprefix(AUTH_SCHEME).strip() or None


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post("/devices/{device}/registrations/{pass_type}/{serial}")
async def register(
    request: Request,
    device: str,
    pass_type: str,
    serial: str,
    body: RegistrationIn,
    authorization: AuthorizationHeader = None,
) -> Response:
    """Register a device to hear of the pass's changes: 201 new, 200 already registered."""
    wallet = _wallet(request)
    async with _runtime(request).unit(WALLET_DEVICE) as ctx:
        card_id = await authenticated_pass(
            ctx, wallet, pass_type, serial, _token(authorization), _client(request)
        )
        created = await register_device(ctx, device, card_id, body.pushToken)
    return Response(status_code=201 if created else 200)


@router.delete("/devices/{device}/registrations/{pass_type}/{serial}")
async def unregister(
    request: Request,
    device: str,
    pass_type: str,
    serial: str,
    authorization: AuthorizationHeader = None,
) -> Response:
    """The pass was removed from the device: it is told of changes no more."""
    wallet = _wallet(request)
    async with _runtime(request).unit(WALLET_DEVICE) as ctx:
        card_id = await authenticated_pass(
            ctx, wallet, pass_type, serial, _token(authorization), _client(request)
        )
        await unregister_device(ctx, device, card_id)
    return Response(status_code=200)


@router.get("/devices/{device}/registrations/{pass_type}")
async def changed_passes(
    request: Request,
    device: str,
    pass_type: str,
    passes_updated_since: Annotated[str | None, Query(alias="passesUpdatedSince")] = None,
) -> Response:
    """The serials of the device's passes changed since the tag it got last time; 204 if none."""
    wallet = _wallet(request)
    async with _runtime(request).unit(WALLET_DEVICE) as ctx:
        updated = await updated_serials(ctx, wallet, device, pass_type, passes_updated_since)
    if updated is None:
        return Response(status_code=204)
    return JSONResponse({"serialNumbers": updated.serials, "lastUpdated": updated.last_updated})


@router.get("/passes/{pass_type}/{serial}")
async def latest_pass(
    request: Request,
    pass_type: str,
    serial: str,
    authorization: AuthorizationHeader = None,
    if_modified_since: Annotated[str | None, Header(alias="If-Modified-Since")] = None,
) -> Response:
    """The pass as it is now; 304 when it has not changed since If-Modified-Since."""
    wallet = _wallet(request)
    async with _runtime(request).unit(WALLET_DEVICE) as ctx:
        card_id = await authenticated_pass(
            ctx, wallet, pass_type, serial, _token(authorization), _client(request)
        )
        signed = await signed_pass(ctx, wallet, card_id)
    # Update times are whole seconds (wallet/service.py), so Last-Modified is exact.
    headers = {
        "Last-Modified": format_datetime(signed.updated_at, usegmt=True),
        "Cache-Control": "no-store",
    }
    if _not_modified_since(signed.updated_at, if_modified_since):
        return Response(status_code=304, headers=headers)
    return Response(signed.data, media_type=PKPASS_TYPE, headers=headers)


def _not_modified_since(updated_at: datetime, header: str | None) -> bool:
    if header is None:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an unreadable date asks for the pass
    return since.tzinfo is not None and updated_at <= since


@router.post("/log")
async def device_log(body: LogIn) -> Response:
    """Wallet reports problems it met with our passes or this service; they go to the log."""
    for line in body.logs[:MAX_LOG_LINES]:
        log.warning("Apple Wallet reports: %s", line[:MAX_LOG_LINE])
    return Response(status_code=200)
