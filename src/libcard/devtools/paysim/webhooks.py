"""Sending webhooks as the providers do: MobilePay's signed with the Webhooks API's HMAC scheme,
QuickPay's callbacks with the account's private key. Written apart from libcard's adapters on
purpose, so that a mistake on one side shows up as a refused webhook in the tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import httpx

from libcard.devtools.paysim.state import CARD, MOBILEPAY, Delivery, Simulation

log = logging.getLogger("libcard.devtools.paysim")
DELIVERY_TIMEOUT_SECONDS = 10.0


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def vipps_headers(secret: str, url: str, body: bytes) -> dict[str, str]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    date = formatdate(usegmt=True)
    content = base64.b64encode(hashlib.sha256(body).digest()).decode()
    message = f"POST\n{path}\n{date};{parts.netloc};{content}"
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    signature = base64.b64encode(mac).decode()
    return {
        "Content-Type": "application/json",
        "x-ms-date": date,
        "x-ms-content-sha256": content,
        "Authorization": "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
        f"&Signature={signature}",
    }


def quickpay_headers(private_key: str, account_id: int, body: bytes) -> dict[str, str]:
    checksum = hmac.new(private_key.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "QuickPay-Resource-Type": "Payment",
        "QuickPay-Account-ID": str(account_id),
        "QuickPay-API-Version": "v10",
        "QuickPay-Checksum-Sha256": checksum,
    }


def headers_for(sim: Simulation, delivery: Delivery) -> dict[str, str]:
    """Signed anew at each sending, as a provider's retry is (a fresh x-ms-date)."""
    if delivery.provider == MOBILEPAY:
        secret = sim.config.mobilepay.webhook_secret
        return vipps_headers(secret, delivery.url, delivery.body)
    key = sim.config.card.private_key
    return quickpay_headers(key, sim.config.quickpay_account_id, delivery.body)


async def send(sim: Simulation, key: str, provider: str, url: str | None, body: bytes) -> None:
    """File a new webhook for the payment `key`, and send it unless webhooks are held back."""
    if url is None:
        log.warning("paysim: no webhook address for %s; nothing sent", provider)
        return
    delivery = Delivery(provider=provider, url=url, body=body, held=sim.hold_webhooks)
    sim.deliveries.setdefault(key, []).append(delivery)
    if not delivery.held:
        await post(sim, delivery)


def send_later(sim: Simulation, key: str, provider: str, url: str | None, body: bytes) -> None:
    """Send after the API's answer, as the providers do: the merchant's own webhook handler may
    be the caller, waiting for this very answer."""
    task = asyncio.get_running_loop().create_task(send(sim, key, provider, url, body))
    sim.tasks.add(task)
    task.add_done_callback(sim.tasks.discard)


async def post(sim: Simulation, delivery: Delivery) -> None:
    headers = headers_for(sim, delivery)
    body = delivery.body
    if delivery.kind == "bad-signature":
        name = "Authorization" if delivery.provider == MOBILEPAY else "QuickPay-Checksum-Sha256"
        headers[name] = _spoil(headers[name])
    elif delivery.kind == "tampered":
        # Signed for one body, sent with another: what a man in the middle would do.
        body = body.replace(b'"value":', b'"value":1', 1).replace(b'"amount":', b'"amount":1', 1)
    try:
        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS) as client:
            response = await client.post(delivery.url, content=body, headers=headers)
        delivery.status, delivery.error = response.status_code, None
    except httpx.HTTPError as error:
        delivery.status, delivery.error = None, type(error).__name__
    delivery.held = False
    log.info("paysim: %s webhook to %s: %s", delivery.provider, delivery.url, delivery.status)


def _spoil(value: str) -> str:
    # Change a character near the end of the signature so it is well-formed but wrong: to
    # another digit, which no case-insensitive comparison of hex can mistake for the original,
    # and which base64 allows too.
    head, tail = value[:-2], value[-2:]
    return head + ("0" if tail[0] != "0" else "1") + tail[1:]


async def resend(sim: Simulation, key: str, kind: str) -> Delivery | None:
    """Send the payment's latest webhook again: a replay, or spoilt on purpose."""
    filed = sim.deliveries.get(key) or []
    if not filed:
        return None
    latest = filed[-1]
    again = Delivery(provider=latest.provider, url=latest.url, body=latest.body, kind=kind)
    filed.append(again)
    await post(sim, again)
    return again


async def release(sim: Simulation, key: str) -> list[Delivery]:
    held = [d for d in sim.deliveries.get(key) or [] if d.held]
    for delivery in held:
        await post(sim, delivery)
    return held


__all__ = ["CARD", "MOBILEPAY", "encode", "release", "resend", "send", "send_later"]
