"""The simulator on a real loopback port, a webhook receiver standing in for libcard's webhook
route, and both adapters pointed at the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from libcard.devtools.paysim import RunningSimulator, SimConfig, start
from libcard.payments.providers.mobilepay import MobilePayProvider
from libcard.payments.providers.quickpay import QuickPayProvider
from libcard.payments.providers.registry import SIMULATED_CARD, SIMULATED_MOBILEPAY


@dataclass
class Received:
    provider: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)

    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[Received]:
        """The first `count` webhooks, waiting for late ones (the simulator sends some after
        answering, as the providers do)."""
        async with asyncio.timeout(seconds):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received[:count]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = _free_port()
    box = Receiver(url=f"http://127.0.0.1:{port}")

    async def webhook(request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        box.received.append(
            Received(
                provider=request.path_params["provider"],
                path=path,
                headers=dict(request.headers),
                body=await request.body(),
            )
        )
        box.arrived.set()
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[Route("/api/v1/payments/webhooks/{provider}", webhook, methods=["POST"])]
    )
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 — uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield box
    server.should_exit = True
    await task


@pytest.fixture
async def sim(receiver: Receiver) -> AsyncIterator[RunningSimulator]:
    config = SimConfig(
        mobilepay=SIMULATED_MOBILEPAY,
        card=SIMULATED_CARD,
        mobilepay_webhook_url=f"{receiver.url}/api/v1/payments/webhooks/mobilepay",
        card_callback_url=f"{receiver.url}/api/v1/payments/webhooks/card",
    )
    running = await start(config, port=0)
    yield running
    await running.stop()


def mobilepay_for(sim: RunningSimulator, **overrides: object) -> MobilePayProvider:
    settings: dict[str, object] = {
        "base_url": sim.url,
        "client_id": SIMULATED_MOBILEPAY.client_id,
        "client_secret": SIMULATED_MOBILEPAY.client_secret,
        "subscription_key": SIMULATED_MOBILEPAY.subscription_key,
        "merchant_serial_number": SIMULATED_MOBILEPAY.merchant_serial_number,
        "webhook_secret": SIMULATED_MOBILEPAY.webhook_secret,
        "timeout": 2.0,
    }
    return MobilePayProvider(**{**settings, **overrides})  # type: ignore[arg-type]


def card_for(sim: RunningSimulator, receiver: Receiver, **overrides: object) -> QuickPayProvider:
    settings: dict[str, object] = {
        "base_url": sim.url,
        "api_key": SIMULATED_CARD.api_key,
        "private_key": SIMULATED_CARD.private_key,
        "callback_url": f"{receiver.url}/api/v1/payments/webhooks/card",
        "timeout": 2.0,
    }
    return QuickPayProvider(**{**settings, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def mobilepay(sim: RunningSimulator) -> MobilePayProvider:
    return mobilepay_for(sim)


@pytest.fixture
def card(sim: RunningSimulator, receiver: Receiver) -> QuickPayProvider:
    return card_for(sim, receiver)


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """What the patron's browser does on the hosted page, without following the way back."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def choose(browser: httpx.AsyncClient, page_url: str, choice: str) -> httpx.Response:
    page = await browser.get(page_url)
    assert page.status_code == 200
    for label in ("Approve", "Decline", "Abandon"):
        assert f'value="{label.lower()}">{label}</button>' in page.text
    return await browser.post(page_url, data={"choice": choice})
