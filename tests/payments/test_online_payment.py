"""Paying fees online, through a provider held in memory (R16): start, succeed, decline,
one open payment per patron, and what a wrong or repeated report does."""

from __future__ import annotations

import asyncio

import pytest

from libcard.collection.models import CollectionCaseFee
from libcard.collection.service import hand_over
from libcard.context import ActorKind
from libcard.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from libcard.fees.rules import FeeType, PaymentMethod
from libcard.fees.service import fee_views, pay
from libcard.payments.checkout import start_checkout
from libcard.payments.providers.errors import ProviderUnavailable
from libcard.payments.rules import PaymentState, Step
from libcard.payments.service import preview
from libcard.policy.rules import BlockCode
from tests.payments.conftest import Payments


async def test_paying_all_fees_lifts_the_blocks_at_once_with_one_ledger_payment(
    payments: Payments,
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 20000)
    await payments.charge(patron, 5000, FeeType.REPLACEMENT)
    assert await payments.codes(patron) == [
        BlockCode.FEE_THRESHOLD,
        BlockCode.REPLACEMENT_UNPAID,
    ]

    started = await payments.start(patron)
    assert started.state == PaymentState.PENDING.value
    assert started.amount_minor == 25000
    assert started.currency == "DKK"
    assert started.redirect_url == f"https://pay.example/card/{started.provider_payment_id}"
    asked = payments.card.created[0]
    assert asked["amount_minor"] == 25000
    assert asked["return_url"] == f"https://library.example/pay/return?ref={started.reference}"
    assert await payments.codes(patron) != []  # starting pays nothing

    applied = await payments.receive("card", payments.card.approve(started.reference))
    assert applied.step is Step.SETTLE
    assert await payments.codes(patron) == []
    assert await payments.ledger_payments(patron) == 1
    done = await payments.payment(started.reference)
    assert done.state == PaymentState.SUCCEEDED.value
    assert done.ledger_payment_id is not None
    async with payments.runtime.unit(readonly=True) as ctx:
        assert all(v.status.outstanding_minor == 0 for v in await fee_views(ctx, patron.id))

    [receipt] = await payments.mails("payment_receipt")
    assert receipt.to_address is not None
    assert started.reference in receipt.body
    assert "/pay/receipt/" + started.reference in receipt.body
    assert "250.00" in receipt.body or "250,00" in receipt.body


async def test_the_amount_comes_from_the_ledger_for_the_chosen_fees(payments: Payments) -> None:
    patron = await payments.world.patron()
    overdue = await payments.charge(patron, 20000)
    replacement = await payments.charge(patron, 5000, FeeType.REPLACEMENT)
    async with payments.runtime.unit(payments.patron_actor(patron), readonly=True) as ctx:
        shown = await preview(ctx, patron.id, [replacement])
    assert shown.amount_minor == 5000
    assert [b.code for b in shown.lifted] == [BlockCode.REPLACEMENT_UNPAID]
    assert [b.code for b in shown.blocks_after] == [BlockCode.FEE_THRESHOLD]

    started = await payments.start(patron, fee_ids=[replacement])
    assert started.amount_minor == 5000
    await payments.receive("card", payments.card.approve(started.reference))
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]
    async with payments.runtime.unit(readonly=True) as ctx:
        owed = {v.fee.id: v.status.outstanding_minor for v in await fee_views(ctx, patron.id)}
    assert owed == {overdue: 20000, replacement: 0}


async def test_refused_choices(payments: Payments) -> None:
    patron = await payments.world.patron()
    other = await payments.world.patron()
    mine = await payments.charge(patron, 3000)
    theirs = await payments.charge(other, 3000)
    with pytest.raises(NotFound) as refused:
        await payments.start(patron, fee_ids=[theirs])
    assert refused.value.code == "fee_not_found"
    with pytest.raises(InvalidInput) as empty:
        await payments.start(patron, fee_ids=[])
    assert empty.value.code == "no_fees_chosen"
    with pytest.raises(InvalidInput) as unknown:
        await payments.start(patron, provider="bitcoin")
    assert unknown.value.code == "provider_unknown"
    async with payments.runtime.unit(payments.world.actor(ActorKind.DESK)) as ctx:
        await pay(ctx, patron.id, 3000, method=PaymentMethod.CASH, idempotency_key="desk-1")
    with pytest.raises(Conflict) as settled:
        await payments.start(patron, fee_ids=[mine])
    assert settled.value.code == "fee_settled"
    with pytest.raises(InvalidInput) as nothing:
        await payments.start(patron)
    assert nothing.value.code == "nothing_to_pay"
    # Only the patron pays their own fees online; nobody else starts it for them.
    with pytest.raises(Forbidden):
        await start_checkout(
            payments.runtime,
            payments.patron_actor(other),
            payments.providers,
            patron_id=patron.id,
            provider="card",
            fee_ids=None,
            language="en",
            public_url="https://library.example",
        )
    assert await payments.online_payments(patron) == []


async def test_a_second_start_reuses_the_same_checkout_or_cancels_the_first(
    payments: Payments,
) -> None:
    patron = await payments.world.patron()
    first_fee = await payments.charge(patron, 3000)
    await payments.charge(patron, 4000)
    first = await payments.start(patron)
    again = await payments.start(patron)
    assert again.reference == first.reference  # back and "pay" again: the same page
    assert len(payments.card.created) == 1

    other_choice = await payments.start(patron, fee_ids=[first_fee])
    assert other_choice.reference != first.reference
    assert (await payments.payment(first.reference)).state == PaymentState.CANCELLED.value
    assert payments.card.cancels == [first.reference]
    by_phone = await payments.start(patron, provider="mobilepay")
    states = [p.state for p in await payments.online_payments(patron)]
    assert states == ["cancelled", "cancelled", "pending"]
    assert by_phone.provider == "mobilepay"


async def test_a_decline_keeps_the_fees_and_the_block(payments: Payments) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 30000)
    started = await payments.start(patron)
    applied = await payments.receive("card", payments.card.decline(started.reference))
    assert applied.step is Step.END
    ended = await payments.payment(started.reference)
    assert ended.state == PaymentState.FAILED.value
    assert ended.failure_reason == "card declined"
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]
    assert await payments.ledger_payments(patron) == 0
    assert await payments.mails("payment_receipt") == []
    # The patron tries again, and this time it goes through.
    second = await payments.start(patron)
    await payments.receive("card", payments.card.approve(second.reference))
    assert await payments.codes(patron) == []


async def test_mobilepay_reserves_then_libcard_captures_then_settles(payments: Payments) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 22500)
    started = await payments.start(patron, "mobilepay")
    applied = await payments.receive("mobilepay", payments.mobilepay.approve(started.reference))
    assert payments.mobilepay.captures == [started.reference]
    assert applied.payment.state == PaymentState.SUCCEEDED.value
    assert await payments.codes(patron) == []
    # MobilePay's own "captured" webhook follows and changes nothing.
    again = await payments.receive(
        "mobilepay", payments.mobilepay.report(started.reference, event_id="CAPTURED:1")
    )
    assert again.step is Step.NOTHING
    assert await payments.ledger_payments(patron) == 1


async def test_a_failed_capture_leaves_the_payment_open_for_a_later_try(
    payments: Payments,
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 22500)
    started = await payments.start(patron, "mobilepay")
    payments.mobilepay.down = True
    applied = await payments.receive("mobilepay", payments.mobilepay.approve(started.reference))
    assert applied.step is Step.CAPTURE
    assert (await payments.payment(started.reference)).state == PaymentState.PENDING.value
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]
    payments.mobilepay.down = False
    await payments.receive("mobilepay", payments.mobilepay.report(started.reference))
    assert (await payments.payment(started.reference)).state == PaymentState.SUCCEEDED.value
    assert await payments.ledger_payments(patron) == 1


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"amount_minor": 100}, "amount_mismatch"),
        ({"currency": "EUR"}, "currency_mismatch"),
        ({"provider_payment_id": "card-999"}, "provider_payment_mismatch"),
    ],
)
async def test_a_report_that_does_not_match_is_refused_and_changes_nothing(
    payments: Payments, override: dict[str, object], reason: str
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    started = await payments.start(patron)
    payments.card.approve(started.reference)
    with pytest.raises(RuleViolation) as refused:
        await payments.receive("card", payments.card.report(started.reference, **override))
    assert refused.value.details["reason"] == reason
    assert (await payments.payment(started.reference)).state == PaymentState.PENDING.value
    assert await payments.ledger_payments(patron) == 0
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]


async def test_a_report_for_an_unknown_reference_or_another_provider_is_refused(
    payments: Payments,
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    started = await payments.start(patron)
    report = payments.card.approve(started.reference)
    with pytest.raises(NotFound):
        await payments.receive("card", payments.card.report(started.reference, reference="lcp-0"))
    with pytest.raises(NotFound):
        await payments.receive("mobilepay", report)
    assert await payments.ledger_payments(patron) == 0


async def test_the_same_success_many_times_and_at_once_records_one_payment(
    payments: Payments,
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    started = await payments.start(patron)
    payments.card.approve(started.reference)
    same_event = payments.card.report(started.reference, event_id="evt-1")
    other_event = payments.card.report(started.reference, event_id="evt-2")
    results = await asyncio.gather(
        payments.receive("card", same_event),
        payments.receive("card", same_event),
        payments.receive("card", other_event),
        payments.receive("card", payments.card.report(started.reference)),
    )
    assert sorted(r.step.value for r in results).count("settle") == 1
    assert await payments.ledger_payments(patron) == 1
    assert len(await payments.mails("payment_receipt")) == 1
    assert await payments.codes(patron) == []


async def test_a_late_success_of_a_replaced_payment_is_given_back(payments: Payments) -> None:
    """The patron started again and paid; then the first payment is captured too. The fees
    are paid, so the second money goes back rather than into the ledger."""
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    first = await payments.start(patron)
    await payments.start(patron, "mobilepay")
    second = (await payments.online_payments(patron))[-1]
    await payments.receive("mobilepay", payments.mobilepay.approve(second.reference))
    assert await payments.codes(patron) == []
    payments.card.approve(first.reference)  # paid anyway, on the page still open
    applied = await payments.receive("card", payments.card.report(first.reference))
    assert applied.payment.state == PaymentState.REFUNDED.value
    assert payments.card.refunds == [(first.reference, 25000)]
    assert await payments.ledger_payments(patron) == 1


async def test_a_provider_that_cannot_start_leaves_a_failed_payment_and_a_clear_error(
    payments: Payments,
) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    payments.card.down = True
    with pytest.raises(ProviderUnavailable) as refused:
        await payments.start(patron)
    assert refused.value.code == "payment_provider_unavailable"
    [failed] = await payments.online_payments(patron)
    assert failed.state == PaymentState.FAILED.value
    payments.card.down = False
    assert (await payments.start(patron)).state == PaymentState.PENDING.value


async def test_a_refund_at_the_provider_is_recorded_for_staff(payments: Payments) -> None:
    patron = await payments.world.patron()
    await payments.charge(patron, 25000)
    started = await payments.start(patron)
    await payments.receive("card", payments.card.approve(started.reference))
    await payments.card.refund(started.reference, started.provider_payment_id or "", 25000)
    applied = await payments.receive("card", payments.card.report(started.reference))
    assert applied.payment.state == PaymentState.REFUNDED.value
    assert await payments.ledger_payments(patron) == 1  # staff decide what it means


async def test_fees_with_the_collection_agency_are_not_paid_online(payments: Payments) -> None:
    """R14d: the agency collects what it was handed, and only its report lifts that block."""
    patron = await payments.world.patron()
    handed = await payments.charge(patron, 10000)
    later = await payments.charge(patron, 3000)
    async with payments.runtime.unit() as ctx:
        case = await hand_over(ctx, patron.id, 10000, "Nordic Collect")
        ctx.session.add(CollectionCaseFee(case_id=case.id, fee_id=handed, amount_minor=10000))
    async with payments.runtime.unit(payments.patron_actor(patron), readonly=True) as ctx:
        shown = await preview(ctx, patron.id)
    assert [view.fee.id for view in shown.open_fees] == [later]
    assert shown.with_agency == 1
    assert BlockCode.IN_COLLECTION in [block.code for block in shown.blocks_after]
    with pytest.raises(Conflict) as refused:
        await payments.start(patron, fee_ids=[handed])
    assert refused.value.code == "fee_with_agency"
    started = await payments.start(patron)
    assert started.amount_minor == 3000


async def test_fees_handed_to_the_agency_while_the_patron_pays_are_given_back(
    payments: Payments,
) -> None:
    """The payment started before the hand-over and succeeded after it: the agency collects
    those fees now, so the money goes back instead of paying them twice."""
    patron = await payments.world.patron()
    fee = await payments.charge(patron, 10000)
    started = await payments.start(patron)
    async with payments.runtime.unit() as ctx:
        case = await hand_over(ctx, patron.id, 10000, "Nordic Collect")
        ctx.session.add(CollectionCaseFee(case_id=case.id, fee_id=fee, amount_minor=10000))
    applied = await payments.receive("card", payments.card.approve(started.reference))
    assert applied.payment.state == PaymentState.REFUNDED.value
    assert payments.card.refunds == [(started.reference, 10000)]
    assert await payments.ledger_payments(patron) == 0
    assert BlockCode.IN_COLLECTION in await payments.codes(patron)
