"""Payment cards (the QuickPay API) against the simulator: payment window choices, signed
callbacks as the adapter verifies them, capture, cancel, refund and the provider's errors."""

from __future__ import annotations

import httpx
import pytest

from libcard.devtools.paysim import RunningSimulator
from libcard.errors import InvalidInput, NotFound
from libcard.payments.providers import signing
from libcard.payments.providers.base import ProviderPayment, ProviderState, WebhookRejected
from libcard.payments.providers.errors import ProviderRefused, ProviderUnavailable
from libcard.payments.providers.quickpay import QuickPayProvider
from libcard.payments.providers.registry import SIMULATED_CARD

from .conftest import Received, Receiver, card_for, choose

RETURN = "http://127.0.0.1:8000/pay/return?payment=LC-CARD-1"


async def _create(card: QuickPayProvider, reference: str = "LC-CARD-1") -> tuple[str, str]:
    checkout = await card.create(
        reference=reference,
        amount_minor=12550,
        currency="DKK",
        description="Replacement of a lost book",
        return_url=RETURN,
        language="da",
    )
    return checkout.provider_payment_id, checkout.redirect_url


def _verify(card: QuickPayProvider, hook: Received) -> ProviderPayment:
    return card.verify_webhook(path=hook.path, headers=hook.headers, body=hook.body)


async def test_approve_then_capture_then_refund(
    card: QuickPayProvider, receiver: Receiver, browser: httpx.AsyncClient
) -> None:
    payment_id, page = await _create(card)
    assert (await card.fetch("LC-CARD-1", payment_id)).state is ProviderState.CREATED

    answer = await choose(browser, page, "approve")
    assert answer.status_code == 303
    assert answer.headers["location"] == RETURN

    (hook,) = await receiver.wait_for(1)
    assert hook.provider == "card"
    authorized = _verify(card, hook)
    assert authorized.state is ProviderState.AUTHORIZED
    assert (authorized.amount_minor, authorized.currency) == (12550, "DKK")
    assert (authorized.reference, authorized.provider_payment_id) == ("LC-CARD-1", payment_id)

    await card.capture("LC-CARD-1", payment_id, 12550)
    assert (await card.fetch("LC-CARD-1", payment_id)).state is ProviderState.CAPTURED
    captured = _verify(card, (await receiver.wait_for(2))[1])
    assert captured.state is ProviderState.CAPTURED
    assert captured.event_id != authorized.event_id

    # A capture repeated after a lost answer finds the work done.
    await card.capture("LC-CARD-1", payment_id, 12550)

    await card.refund("LC-CARD-1", payment_id, 2550)
    assert (await card.fetch("LC-CARD-1", payment_id)).state is ProviderState.REFUNDED
    with pytest.raises(ProviderRefused):
        await card.refund("LC-CARD-1", payment_id, 20000)  # more than was captured


async def test_decline_fails_and_abandon_expires_without_a_callback(
    card: QuickPayProvider, receiver: Receiver, browser: httpx.AsyncClient
) -> None:
    declined_id, declined_page = await _create(card, "LC-CARD-NO")
    abandoned_id, abandoned_page = await _create(card, "LC-CARD-GONE")

    assert (await choose(browser, declined_page, "decline")).status_code == 303
    declined = _verify(card, (await receiver.wait_for(1))[0])
    assert declined.state is ProviderState.FAILED
    assert declined.failure_reason

    assert (await choose(browser, abandoned_page, "abandon")).status_code == 303
    # QuickPay sends no callback when a link runs out; reconciliation finds it.
    assert (await card.fetch("LC-CARD-GONE", abandoned_id)).state is ProviderState.EXPIRED
    assert (await card.fetch("LC-CARD-GONE", "")).state is ProviderState.EXPIRED
    assert len(receiver.received) == 1
    with pytest.raises(ProviderRefused):
        await card.capture("LC-CARD-NO", declined_id, 12550)


async def test_cancel_an_authorised_payment(
    card: QuickPayProvider, sim: RunningSimulator, receiver: Receiver
) -> None:
    payment_id, _ = await _create(card)
    async with httpx.AsyncClient(base_url=sim.url) as control:
        assert (await control.post("/_sim/payments/LC-CARD-1/approve")).status_code == 200
    await card.cancel("LC-CARD-1", payment_id)
    await card.cancel("LC-CARD-1", payment_id)  # again, after a lost answer: already done
    assert (await card.fetch("LC-CARD-1", payment_id)).state is ProviderState.CANCELLED
    cancelled = _verify(card, (await receiver.wait_for(2))[1])
    assert cancelled.state is ProviderState.CANCELLED


async def test_create_again_reuses_the_payment_of_the_reference(card: QuickPayProvider) -> None:
    first_id, _ = await _create(card)
    second_id, _ = await _create(card)
    assert first_id == second_id


async def test_forged_and_tampered_callbacks_are_rejected(
    card: QuickPayProvider, sim: RunningSimulator, receiver: Receiver, browser: httpx.AsyncClient
) -> None:
    _, page = await _create(card)
    await choose(browser, page, "approve")
    await receiver.wait_for(1)
    async with httpx.AsyncClient(base_url=sim.url) as control:
        for how in ("bad-signature", "tampered", "replay"):
            assert (await control.post(f"/_sim/payments/LC-CARD-1/webhooks/{how}")).is_success
    original, bad, tampered, replay = await receiver.wait_for(4)
    with pytest.raises(WebhookRejected):
        _verify(card, bad)
    with pytest.raises(WebhookRejected):
        _verify(card, tampered)
    assert _verify(card, replay).event_id == _verify(card, original).event_id
    with pytest.raises(WebhookRejected):
        card.verify_webhook(path=original.path, headers={}, body=original.body)
    other_key = card_for(sim, receiver, private_key="another-account")
    with pytest.raises(WebhookRejected):
        _verify(other_key, original)


async def test_held_callback_leaves_the_payment_to_reconciliation(
    card: QuickPayProvider, sim: RunningSimulator, receiver: Receiver
) -> None:
    payment_id, _ = await _create(card)
    async with httpx.AsyncClient(base_url=sim.url) as control:
        await control.post("/_sim/webhooks/hold", json={"hold": True})
        assert (await control.post(f"/_sim/payments/{payment_id}/approve")).status_code == 200
        assert receiver.received == []
        assert (await card.fetch("LC-CARD-1", payment_id)).state is ProviderState.AUTHORIZED
        await control.post("/_sim/payments/LC-CARD-1/webhooks/release")
    assert _verify(card, (await receiver.wait_for(1))[0]).state is ProviderState.AUTHORIZED


async def test_provider_errors_become_libcard_errors(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    wrong = card_for(sim, receiver, api_key="not-the-key")
    with pytest.raises(ProviderRefused) as refused:
        await _create(wrong)
    assert refused.value.details["status"] == 401
    assert "not-the-key" not in repr(refused.value.details)

    card = card_for(sim, receiver)
    async with httpx.AsyncClient(base_url=sim.url) as control:
        await control.post("/_sim/faults", json={"provider": "card", "status": 503})
        with pytest.raises(ProviderUnavailable):
            await _create(card)
        await control.post("/_sim/faults", json={"provider": "card", "delay_seconds": 3})
        with pytest.raises(ProviderUnavailable):
            await _create(card_for(sim, receiver, timeout=0.5))

    with pytest.raises(NotFound):
        await card.fetch("LC-CARD-404", "999")
    with pytest.raises(InvalidInput):
        await _create(card, "a-reference-far-too-long-for-quickpay")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"id": 7}', b'{"operations": 5}'])
def test_a_signed_callback_that_cannot_be_read_is_unreadable_not_forged(
    card: QuickPayProvider, body: bytes
) -> None:
    # Signed with the account's key, so it is QuickPay's: the route answers 400, not 401.
    checksum = signing.quickpay_checksum(private_key=SIMULATED_CARD.private_key, body=body)
    with pytest.raises(ValueError, match="cannot be read"):
        card.verify_webhook(
            path="/api/v1/payments/webhooks/card",
            headers={"QuickPay-Checksum-Sha256": checksum},
            body=body,
        )
