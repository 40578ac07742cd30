"""MobilePay (the ePayment API) against the simulator: the patron's choices on the hosted page,
the webhooks they cause as the adapter verifies them, and the merchant's operations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from libcard.devtools.paysim import RunningSimulator
from libcard.errors import InvalidInput, NotFound
from libcard.payments.providers.base import ProviderPayment, ProviderState, WebhookRejected
from libcard.payments.providers.errors import ProviderRefused, ProviderUnavailable
from libcard.payments.providers.mobilepay import MobilePayProvider

from .conftest import Received, Receiver, choose, mobilepay_for

RETURN = "http://127.0.0.1:8000/pay/return?payment=LC-MP-0001"


async def _create(mobilepay: MobilePayProvider, reference: str = "LC-MP-0001") -> str:
    checkout = await mobilepay.create(
        reference=reference,
        amount_minor=22500,
        currency="DKK",
        description="Fees, library card 1234",
        return_url=RETURN,
        language="da",
    )
    assert checkout.provider_payment_id == reference
    return checkout.redirect_url


def _verify(mobilepay: MobilePayProvider, hook: Received) -> ProviderPayment:
    return mobilepay.verify_webhook(path=hook.path, headers=hook.headers, body=hook.body)


async def test_approve_then_capture_then_refund(
    mobilepay: MobilePayProvider, receiver: Receiver, browser: httpx.AsyncClient
) -> None:
    page = await _create(mobilepay)
    assert (await mobilepay.fetch("LC-MP-0001", "LC-MP-0001")).state is ProviderState.CREATED

    answer = await choose(browser, page, "approve")
    assert answer.status_code == 303
    assert answer.headers["location"] == RETURN

    (hook,) = await receiver.wait_for(1)
    assert hook.provider == "mobilepay"
    authorized = _verify(mobilepay, hook)
    assert authorized.state is ProviderState.AUTHORIZED
    assert authorized.amount_minor == 22500
    assert authorized.currency == "DKK"
    assert authorized.reference == "LC-MP-0001"
    assert authorized.event_id
    assert (await mobilepay.fetch("LC-MP-0001", "LC-MP-0001")).state is ProviderState.AUTHORIZED

    await mobilepay.capture("LC-MP-0001", "LC-MP-0001", 22500)
    assert (await mobilepay.fetch("LC-MP-0001", "LC-MP-0001")).state is ProviderState.CAPTURED
    captured = _verify(mobilepay, (await receiver.wait_for(2))[1])
    assert captured.state is ProviderState.CAPTURED
    assert captured.event_id != authorized.event_id

    # A capture repeated after a lost answer is the same request: nothing is taken twice.
    await mobilepay.capture("LC-MP-0001", "LC-MP-0001", 22500)

    await mobilepay.refund("LC-MP-0001", "LC-MP-0001", 5000)
    assert (await mobilepay.fetch("LC-MP-0001", "LC-MP-0001")).state is ProviderState.REFUNDED
    refunded = _verify(mobilepay, (await receiver.wait_for(3))[2])
    assert refunded.state is ProviderState.REFUNDED
    assert refunded.amount_minor == 5000


async def test_decline_and_abandon(
    mobilepay: MobilePayProvider, receiver: Receiver, browser: httpx.AsyncClient
) -> None:
    declined_page = await _create(mobilepay, "LC-MP-DECLINE")
    abandoned_page = await _create(mobilepay, "LC-MP-ABANDON")

    assert (await choose(browser, declined_page, "decline")).status_code == 303
    declined = _verify(mobilepay, (await receiver.wait_for(1))[0])
    assert declined.state is ProviderState.CANCELLED
    assert declined.failure_reason

    assert (await choose(browser, abandoned_page, "abandon")).status_code == 303
    expired = _verify(mobilepay, (await receiver.wait_for(2))[1])
    assert expired.state is ProviderState.EXPIRED
    fetched = await mobilepay.fetch("LC-MP-ABANDON", "LC-MP-ABANDON")
    assert fetched.state is ProviderState.EXPIRED

    # The page of a finished payment offers no buttons, and a late choice changes nothing.
    again = await browser.post(abandoned_page, data={"choice": "approve"})
    assert again.status_code == 409
    assert "Approve</button>" not in again.text


async def test_cancel_before_approval(mobilepay: MobilePayProvider, receiver: Receiver) -> None:
    await _create(mobilepay)
    await mobilepay.cancel("LC-MP-0001", "LC-MP-0001")
    assert (await mobilepay.fetch("LC-MP-0001", "LC-MP-0001")).state is ProviderState.CANCELLED
    terminated = _verify(mobilepay, (await receiver.wait_for(1))[0])
    assert terminated.state is ProviderState.CANCELLED


async def test_create_again_after_a_lost_answer_gives_the_same_page(
    mobilepay: MobilePayProvider,
) -> None:
    assert await _create(mobilepay) == await _create(mobilepay)


async def test_forged_and_tampered_webhooks_are_rejected(
    mobilepay: MobilePayProvider,
    sim: RunningSimulator,
    receiver: Receiver,
    browser: httpx.AsyncClient,
) -> None:
    await choose(browser, await _create(mobilepay), "approve")
    await receiver.wait_for(1)
    async with httpx.AsyncClient(base_url=sim.url) as control:
        for how in ("bad-signature", "tampered", "replay"):
            answer = await control.post(f"/_sim/payments/LC-MP-0001/webhooks/{how}")
            assert answer.status_code == 200
    original, bad, tampered, replay = await receiver.wait_for(4)
    with pytest.raises(WebhookRejected):
        _verify(mobilepay, bad)
    with pytest.raises(WebhookRejected):
        _verify(mobilepay, tampered)
    # A replay is authentic, and carries the same event id, so it is recognised as seen.
    assert _verify(mobilepay, replay).event_id == _verify(mobilepay, original).event_id
    # Signed for another address, or with no signature at all.
    with pytest.raises(WebhookRejected):
        mobilepay.verify_webhook(path="/elsewhere", headers=original.headers, body=original.body)
    with pytest.raises(WebhookRejected):
        mobilepay.verify_webhook(path=original.path, headers={}, body=original.body)


async def test_a_stale_webhook_is_rejected(
    sim: RunningSimulator, receiver: Receiver, browser: httpx.AsyncClient
) -> None:
    mobilepay = mobilepay_for(sim)
    await choose(browser, await _create(mobilepay), "approve")
    (hook,) = await receiver.wait_for(1)
    later = mobilepay_for(sim, now=lambda: datetime.now(UTC) + timedelta(minutes=6))
    with pytest.raises(WebhookRejected, match="stale"):
        _verify(later, hook)


async def test_held_webhook_leaves_the_payment_to_reconciliation(
    mobilepay: MobilePayProvider, sim: RunningSimulator, receiver: Receiver
) -> None:
    await _create(mobilepay)
    async with httpx.AsyncClient(base_url=sim.url) as control:
        assert (await control.post("/_sim/webhooks/hold", json={"hold": True})).status_code == 200
        assert (await control.post("/_sim/payments/LC-MP-0001/approve")).status_code == 200
        assert receiver.received == []
        # Reconciliation asks the provider and finds the payment approved.
        assert (await mobilepay.fetch("LC-MP-0001", "")).state is ProviderState.AUTHORIZED
        released = await control.post("/_sim/payments/LC-MP-0001/webhooks/release")
        assert released.json()["released"] == 1
    assert _verify(mobilepay, (await receiver.wait_for(1))[0]).state is ProviderState.AUTHORIZED


async def test_provider_errors_become_libcard_errors(sim: RunningSimulator) -> None:
    wrong = mobilepay_for(sim, client_secret="not-the-secret")
    with pytest.raises(ProviderRefused) as refused:
        await _create(wrong)
    assert refused.value.code == "payment_provider_refused"
    assert refused.value.details["status"] == 401
    assert "not-the-secret" not in repr(refused.value.details)

    mobilepay = mobilepay_for(sim)
    async with httpx.AsyncClient(base_url=sim.url) as control:
        await control.post("/_sim/faults", json={"provider": "mobilepay", "status": 500})
        with pytest.raises(ProviderUnavailable) as failed:
            await _create(mobilepay)
        assert failed.value.code == "payment_provider_unavailable"

        await control.post("/_sim/faults", json={"provider": "mobilepay", "delay_seconds": 3})
        slow = mobilepay_for(sim, timeout=0.5)
        with pytest.raises(ProviderUnavailable):
            await _create(slow)

    with pytest.raises(NotFound):
        await mobilepay.fetch("LC-MP-UNKNOWN", "LC-MP-UNKNOWN")
    with pytest.raises(InvalidInput):
        await _create(mobilepay, "short")


async def test_an_unreachable_provider_is_unavailable() -> None:
    from .conftest import _free_port

    nowhere = MobilePayProvider(
        base_url=f"http://127.0.0.1:{_free_port()}",
        client_id="x",
        client_secret="y",
        subscription_key="z",
        merchant_serial_number="123456",
        webhook_secret="w",
        timeout=1.0,
    )
    with pytest.raises(ProviderUnavailable):
        await _create(nowhere)
