"""The providers' webhooks over HTTP, and reconciliation of payments whose webhook never
came (R16): forged, unreadable, wrong or repeated webhooks record nothing or one payment."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from libcard.kit.clock import FrozenClock
from libcard.payments.checkout import reconcile
from libcard.payments.rules import PaymentState
from libcard.policy.rules import BlockCode
from libcard.web.app import create_app
from tests.payments.conftest import LINKS, Payments

WEBHOOK = "/api/v1/payments/webhooks/{provider}"


@pytest.fixture
async def api(payments: Payments) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(payments.runtime)
    app.state.payment_providers = payments.providers
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as client:
        yield client


async def _post(
    api: httpx.AsyncClient, provider: str, headers: dict[str, str], body: bytes
) -> httpx.Response:
    return await api.post(WEBHOOK.format(provider=provider), headers=headers, content=body)


async def test_a_signed_webhook_settles_and_its_replay_changes_nothing(
    payments: Payments, api: httpx.AsyncClient
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    started = await payments.start(patron)
    payments.card.approve(started.reference)
    headers, body = payments.card.webhook(started.reference, event_id="evt-42")

    first = await _post(api, "card", headers, body)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "reference": started.reference,
        "state": "succeeded",
        "duplicate": False,
    }
    assert await payments.codes(patron) == []

    replay = await _post(api, "card", headers, body)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert await payments.ledger_payments(patron) == 1


async def test_concurrent_duplicate_webhooks_record_one_payment(
    payments: Payments, api: httpx.AsyncClient
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    started = await payments.start(patron)
    payments.card.approve(started.reference)
    headers, body = payments.card.webhook(started.reference, event_id="evt-7")
    answers = await asyncio.gather(*(_post(api, "card", headers, body) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    assert await payments.ledger_payments(patron) == 1
    assert len(await payments.mails("payment_receipt")) == 1


async def test_a_forged_webhook_is_refused_and_nothing_is_recorded(
    payments: Payments, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    started = await payments.start(patron)
    payments.card.approve(started.reference)
    headers, body = payments.card.webhook(started.reference, sign=False)
    with caplog.at_level(logging.WARNING, logger="libcard.payments"):
        forged = await _post(api, "card", headers, body)
    assert forged.status_code == 401
    assert forged.headers["content-type"] == "application/problem+json"
    assert forged.json()["code"] == "webhook_rejected"
    assert headers["x-memory-signature"] not in caplog.text
    # Signed with the right key, but the body changed afterwards.
    headers, body = payments.card.webhook(started.reference)
    tampered = await _post(api, "card", headers, body.replace(b"25000", b"25001"))
    assert tampered.status_code == 401
    assert (await payments.payment(started.reference)).state == PaymentState.PENDING.value
    assert await payments.ledger_payments(patron) == 0
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]


async def test_an_unreadable_webhook_and_an_unknown_provider(
    payments: Payments, api: httpx.AsyncClient
) -> None:
    body = b"this is not json"
    headers = {"x-memory-signature": payments.card._sign(body)}
    unreadable = await _post(api, "card", headers, body)
    assert unreadable.status_code == 400
    assert unreadable.json()["code"] == "webhook_unreadable"
    unknown = await _post(api, "paypal", headers, body)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"amount_minor": 2500}, 409),
        ({"currency": "EUR"}, 409),
        ({"reference": "lcp-ffffffffffffffff"}, 404),
    ],
)
async def test_a_webhook_with_a_wrong_amount_currency_or_reference_is_refused(
    payments: Payments,
    api: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    override: dict[str, object],
    status: int,
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    started = await payments.start(patron)
    payments.card.approve(started.reference)
    headers, body = payments.card.webhook(started.reference, **override)
    with caplog.at_level(logging.WARNING, logger="libcard.payments"):
        refused = await _post(api, "card", headers, body)
    assert refused.status_code == status, refused.text
    assert "payment report refused" in caplog.text
    assert headers["x-memory-signature"] not in caplog.text
    assert (await payments.payment(started.reference)).state == PaymentState.PENDING.value
    assert await payments.ledger_payments(patron) == 0
    # The right webhook still goes through afterwards: the refused one left no event behind.
    headers, body = payments.card.webhook(started.reference)
    assert (await _post(api, "card", headers, body)).status_code == 200
    assert await payments.ledger_payments(patron) == 1


async def test_reconciliation_settles_a_payment_whose_webhook_never_came(
    payments: Payments, clock: FrozenClock
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    paid = await payments.start(patron)
    payments.card.approve(paid.reference)  # paid, but the webhook is lost

    other = await payments.world.patron()
    await payments.charge(other, 10000)
    idle = await payments.start(other, "mobilepay")  # the patron never finished

    soon = await reconcile(payments.runtime, payments.providers, clock.now(), LINKS)
    assert soon.seen == 0  # too early: the webhook may still come

    clock.advance(timedelta(minutes=16))
    report = await reconcile(payments.runtime, payments.providers, clock.now(), LINKS)
    assert (report.seen, report.settled, report.ended) == (2, 1, 0)
    assert await payments.codes(patron) == []
    assert await payments.ledger_payments(patron) == 1
    assert (await payments.payment(idle.reference)).state == PaymentState.PENDING.value

    clock.advance(timedelta(minutes=30))  # past the checkout's expiry
    later = await reconcile(payments.runtime, payments.providers, clock.now(), LINKS)
    assert (later.seen, later.settled, later.ended) == (1, 0, 1)
    assert (await payments.payment(idle.reference)).state == PaymentState.EXPIRED.value
    assert payments.mobilepay.cancels == [idle.reference]
    again = await reconcile(payments.runtime, payments.providers, clock.now(), LINKS)
    assert again.seen == 0
    assert await payments.ledger_payments(patron) == 1


async def test_reconciliation_of_a_declined_payment_and_an_unreachable_provider(
    payments: Payments, clock: FrozenClock
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    declined = await payments.start(patron)
    payments.card.decline(declined.reference)
    payments.card.down = True
    clock.advance(timedelta(minutes=20))
    down = await reconcile(payments.runtime, payments.providers, clock.now(), LINKS)
    assert (down.seen, down.failures) == (1, 1)
    assert (await payments.payment(declined.reference)).state == PaymentState.PENDING.value
    payments.card.down = False
    up = await reconcile(payments.runtime, payments.providers, clock.now(), LINKS)
    assert (up.seen, up.ended) == (1, 1)
    assert (await payments.payment(declined.reference)).state == PaymentState.FAILED.value
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]
