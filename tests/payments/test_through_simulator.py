"""Online payments end to end through the payment simulator (devtools/paysim), which speaks
the providers' HTTP APIs and sends signed webhooks to libcard served on a loopback port:
the real adapters, the real webhook route, the real database."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from libcard.devtools.paysim import RunningSimulator, SimConfig, start
from libcard.fees.rules import FeeType
from libcard.kit.clock import FrozenClock
from libcard.payments.checkout import Providers, reconcile, start_checkout
from libcard.payments.models import OnlinePayment
from libcard.payments.providers.mobilepay import MobilePayProvider
from libcard.payments.providers.quickpay import QuickPayProvider
from libcard.payments.providers.registry import SIMULATED_CARD, SIMULATED_MOBILEPAY
from libcard.payments.rules import PaymentState
from libcard.policy.rules import BlockCode
from libcard.web.app import create_app
from tests.conftest import PatronHandle
from tests.payments.conftest import LINKS, Payments

WEBHOOK = "/api/v1/payments/webhooks/{provider}"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    payments: Payments
    sim: RunningSimulator
    libcard_url: str
    providers: Providers

    async def start(self, patron: PatronHandle, provider: str) -> OnlinePayment:
        return await start_checkout(
            self.payments.runtime,
            self.payments.patron_actor(patron),
            self.providers,
            patron_id=patron.id,
            provider=provider,
            fee_ids=None,
            language="en",
            public_url=self.libcard_url,
        )

    async def control(self, path: str, **body: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.sim.url, timeout=10) as client:
            answer = await client.post(f"/_sim{path}", json=body or None)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def settled(self, reference: str, state: PaymentState, seconds: float = 10.0) -> None:
        """Wait for the simulator's webhooks to bring the payment to `state`."""
        async with asyncio.timeout(seconds):
            while (await self.payments.payment(reference)).state != state.value:  # noqa: ASYNC110 — the webhook arrives in another request
                await asyncio.sleep(0.05)


@pytest.fixture
async def live(payments: Payments) -> AsyncIterator[Live]:
    port = _free_port()
    libcard_url = f"http://127.0.0.1:{port}"
    app = create_app(payments.runtime)
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 — uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    sim = await start(
        SimConfig(
            mobilepay=SIMULATED_MOBILEPAY,
            card=SIMULATED_CARD,
            mobilepay_webhook_url=libcard_url + WEBHOOK.format(provider="mobilepay"),
            card_callback_url=libcard_url + WEBHOOK.format(provider="card"),
        ),
        port=0,
    )
    providers: Providers = {
        "mobilepay": MobilePayProvider(
            base_url=sim.url,
            client_id=SIMULATED_MOBILEPAY.client_id,
            client_secret=SIMULATED_MOBILEPAY.client_secret,
            subscription_key=SIMULATED_MOBILEPAY.subscription_key,
            merchant_serial_number=SIMULATED_MOBILEPAY.merchant_serial_number,
            webhook_secret=SIMULATED_MOBILEPAY.webhook_secret,
            timeout=5.0,
        ),
        "card": QuickPayProvider(
            base_url=sim.url,
            api_key=SIMULATED_CARD.api_key,
            private_key=SIMULATED_CARD.private_key,
            callback_url=libcard_url + WEBHOOK.format(provider="card"),
            timeout=5.0,
        ),
    }
    app.state.payment_providers = providers
    try:
        yield Live(payments, sim, libcard_url, providers)
    finally:
        await sim.stop()
        server.should_exit = True
        await task


@pytest.mark.parametrize("provider", ["card", "mobilepay"])
async def test_paying_through_the_providers_apis_lifts_the_block_once(
    live: Live, provider: str
) -> None:
    payments = live.payments
    patron = await payments.world.patron()
    await payments.charge(patron, 20000)
    await payments.charge(patron, 5000, FeeType.REPLACEMENT)
    started = await live.start(patron, provider)
    assert started.redirect_url is not None
    assert started.redirect_url.startswith(live.sim.url)

    # The patron approves on the hosted page; the webhook arrives, libcard captures, settles.
    await live.control(f"/payments/{started.reference}/approve")
    await live.settled(started.reference, PaymentState.SUCCEEDED)
    assert await payments.codes(patron) == []
    assert await payments.ledger_payments(patron) == 1
    assert len(await payments.mails("payment_receipt")) == 1

    # Replayed, and wrongly signed, webhooks change nothing.
    shown = await live.control(f"/payments/{started.reference}/webhooks/replay")
    assert shown["sent"]["status"] == 200
    forged = await live.control(f"/payments/{started.reference}/webhooks/bad-signature")
    assert forged["sent"]["status"] == 401, forged["sent"]
    tampered = await live.control(f"/payments/{started.reference}/webhooks/tampered")
    assert tampered["sent"]["status"] in (400, 401)
    assert await payments.ledger_payments(patron) == 1


async def test_a_declined_card_keeps_the_block(live: Live) -> None:
    payments = live.payments
    patron = await payments.world.patron()
    await payments.charge(patron, 30000)
    started = await live.start(patron, "card")
    await live.control(f"/payments/{started.reference}/decline")
    await live.settled(started.reference, PaymentState.FAILED)
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]
    assert await payments.ledger_payments(patron) == 0


async def test_reconciliation_settles_a_mobilepay_payment_whose_webhooks_were_lost(
    live: Live, clock: FrozenClock
) -> None:
    payments = live.payments
    patron = await payments.world.patron()
    await payments.charge(patron, 30000)
    started = await live.start(patron, "mobilepay")
    await live.control("/webhooks/hold", hold=True)
    await live.control(f"/payments/{started.reference}/approve")
    await asyncio.sleep(0.2)
    assert (await payments.payment(started.reference)).state == PaymentState.PENDING.value

    clock.advance(timedelta(minutes=20))
    report = await reconcile(payments.runtime, live.providers, clock.now(), LINKS)
    assert (report.seen, report.settled) == (1, 1)
    assert (await payments.payment(started.reference)).state == PaymentState.SUCCEEDED.value
    assert await payments.codes(patron) == []

    # The held webhooks arrive after all: one payment still.
    await live.control(f"/payments/{started.reference}/webhooks/release")
    await asyncio.sleep(0.3)
    assert await payments.ledger_payments(patron) == 1
