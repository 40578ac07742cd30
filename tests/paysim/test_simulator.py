"""The simulator checks requests as the real APIs would, and runs on its own and in serve."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys

import httpx
import pytest

from libcard.config import Settings
from libcard.devtools.paysim import RunningSimulator
from libcard.payments.providers.registry import SIMULATED_CARD, SIMULATED_MOBILEPAY, providers_from
from libcard.serving import payment_simulator

from .conftest import _free_port


async def _vipps_token(client: httpx.AsyncClient) -> dict[str, str]:
    base = {
        "Ocp-Apim-Subscription-Key": SIMULATED_MOBILEPAY.subscription_key,
        "Merchant-Serial-Number": SIMULATED_MOBILEPAY.merchant_serial_number,
    }
    answer = await client.post(
        "/accesstoken/get",
        headers={
            **base,
            "client_id": SIMULATED_MOBILEPAY.client_id,
            "client_secret": SIMULATED_MOBILEPAY.client_secret,
        },
    )
    assert answer.status_code == 200
    return {**base, "Authorization": f"Bearer {answer.json()['access_token']}"}


def _payment(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "amount": {"currency": "DKK", "value": 1000},
        "paymentMethod": {"type": "WALLET"},
        "reference": "LC-SIM-0001",
        "returnUrl": "https://library.example/return",
        "userFlow": "WEB_REDIRECT",
        "paymentDescription": "Fees",
    }
    body.update(changes)
    return body


async def test_epayment_api_validates_like_the_real_one(sim: RunningSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as client:
        headers = await _vipps_token(client)
        no_key = await client.post("/epayment/v1/payments", headers=headers, json=_payment())
        assert no_key.status_code == 400
        assert no_key.headers["content-type"] == "application/problem+json"
        headers["Idempotency-Key"] = "key-1"
        for bad in (
            {"amount": {"currency": "DKK", "value": 10.5}},
            {"amount": {"currency": "DKK", "value": "1000"}},
            {"amount": {"currency": "XXX", "value": 1000}},
            {"reference": "short"},
            {"returnUrl": "http://library.example/return"},
        ):
            answer = await client.post(
                "/epayment/v1/payments", headers=headers, json=_payment(**bad)
            )
            assert answer.status_code == 400, bad
            assert answer.json()["extraDetails"]
        made = await client.post("/epayment/v1/payments", headers=headers, json=_payment())
        assert made.status_code == 201
        again = await client.post("/epayment/v1/payments", headers=headers, json=_payment())
        assert again.json() == made.json()
        other = await client.post(
            "/epayment/v1/payments", headers=headers, json=_payment(reference="LC-SIM-0002")
        )
        assert other.status_code == 409  # the key was used for another request
        headers["Authorization"] = "Bearer forged"
        assert (
            await client.get("/epayment/v1/payments/LC-SIM-0001", headers=headers)
        ).status_code == 401


async def test_quickpay_api_validates_like_the_real_one(sim: RunningSimulator) -> None:
    auth = "Basic " + base64.b64encode(f":{SIMULATED_CARD.api_key}".encode()).decode()
    headers = {"Authorization": auth, "Accept-Version": "v10"}
    async with httpx.AsyncClient(base_url=sim.url) as client:
        body = {"order_id": "LC-SIM-1", "currency": "DKK"}
        no_version = await client.post("/payments", headers={"Authorization": auth}, json=body)
        assert no_version.status_code == 400
        made = await client.post("/payments", headers=headers, json=body)
        assert made.status_code == 201
        assert made.json()["state"] == "initial"
        duplicate = await client.post("/payments", headers=headers, json=body)
        assert duplicate.status_code == 400
        assert "order_id" in duplicate.json()["errors"]
        link = await client.put(
            f"/payments/{made.json()['id']}/link", headers=headers, json={"amount": 12.5}
        )
        assert link.status_code == 400
        assert "amount" in link.json()["errors"]


async def test_serve_starts_the_simulator_and_the_providers_reach_it() -> None:
    settings = Settings(payments_simulator_port=_free_port())
    running = await payment_simulator(settings)
    assert running is not None
    try:
        providers = providers_from(settings)
        assert set(providers) == {"card", "mobilepay"}
        checkout = await providers["mobilepay"].create(
            reference="LC-SERVE-01",
            amount_minor=5000,
            currency="DKK",
            description="Fees",
            return_url="http://127.0.0.1:8000/pay/return",
            language="en",
        )
        assert checkout.redirect_url.startswith(running.url)
        # A second simulator cannot take the port; serving goes on without it.
        assert await payment_simulator(settings) is None
    finally:
        await running.stop()


def test_no_simulator_and_no_credentials_means_no_providers() -> None:
    assert providers_from(Settings(payments_simulator=False)) == {}


def test_the_simulator_is_on_by_default_only_for_the_embedded_database() -> None:
    # Its webhook secrets are in the source: a production database never gets it unasked.
    production = Settings(database_url="postgresql://libcard@db.example/libcard")
    assert not production.simulating_payments
    assert providers_from(production) == {}
    assert Settings(database_url="sqlite:///libcard.sqlite3").simulating_payments
    assert (
        Settings(database_url="sqlite:///x.sqlite3", payments_simulator=False).simulating_payments
        is False
    )
    explicit = Settings(
        database_url="postgresql://libcard@db.example/libcard", payments_simulator=True
    )
    assert explicit.simulating_payments


def test_real_credentials_point_the_providers_at_the_real_apis() -> None:
    settings = Settings(
        payments_simulator=False,
        card_api_key="api-key-4711",
        card_private_key="private-key-4711",
    )
    providers = providers_from(settings)
    assert list(providers) == ["card"]
    assert "api.quickpay.net" in repr(providers["card"])
    assert "4711" not in repr(providers["card"])


async def test_runs_as_a_module() -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBCARD_")}
    process = subprocess.Popen(  # noqa: S603, ASYNC220 — our own command, polled below
        [sys.executable, "-m", "libcard.devtools.paysim", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/_sim/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the simulator did not start")
        assert answer.json() == {"ok": True}
    finally:
        process.terminate()
        process.wait(timeout=10)
