"""The notice, the week to pay and the hand-over to the agency (R14d, R15), on the test clock.

The fixture clock starts on Monday 5 January 2026, 09:00 UTC; a fee charged then is 30 days
old on 4 February, when the notice goes out with a deadline at the end of 11 February in
Copenhagen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from libcard.collection import workflow
from libcard.context import ActorKind
from libcard.fees.models import Payment
from libcard.fees.service import ledger_of
from libcard.kit.clock import FrozenClock
from libcard.notify.service import TEMPLATES
from libcard.policy.rules import BlockCode
from libcard.policy.service import update_institution
from tests.collection.conftest import AGENCY, Collection
from tests.conftest import World

DEADLINE = datetime(2026, 2, 11, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in Copenhagen


async def test_a_notice_paid_within_the_week_never_goes_to_the_agency(
    collection: Collection, clock: FrozenClock
) -> None:
    patron = await collection.patron(15000)
    clock.advance(timedelta(days=29))
    assert (await collection.notices()).notices == 0  # the fee is 29 days old: too young
    clock.advance(timedelta(days=1))
    report = await collection.notices()
    assert (report.notices, report.mails, report.failures) == (1, 1, 0)
    [case] = await collection.cases(patron.id)
    assert (case.state, case.amount_minor, case.agency) == ("notice_sent", 15000, AGENCY)
    assert case.notice_deadline == DEADLINE
    [mail] = await collection.mails(patron.id, "collection_notice")
    # In the library's language (Danish), with the amount and the day as Danes write them.
    assert mail.language == "da"
    assert "150,00" in mail.body
    assert "11. februar 2026" in mail.body
    assert "/pay" in mail.body
    assert AGENCY in mail.body
    # The same day again: nothing new.
    assert (await collection.notices()).notices == 0
    assert len(await collection.cases(patron.id)) == 1
    assert len(await collection.mails(patron.id, "collection_notice")) == 1
    assert await collection.codes(patron.id) == []  # a notice blocks nothing yet

    clock.advance(timedelta(days=6))
    await collection.pay(patron.id, 15000)
    clock.advance(timedelta(days=2))
    report = await collection.handover()
    assert (report.handed_over, report.settled) == (0, 1)
    [case] = await collection.cases(patron.id)
    assert (case.state, case.closed_reason) == ("settled", "paid_before_deadline")
    assert await collection.codes(patron.id) == []


async def test_debt_unpaid_after_the_week_is_handed_over_and_blocks_until_paid_in_full(
    collection: Collection, world: World, clock: FrozenClock
) -> None:
    patron = await collection.patron(15000)
    clock.advance(timedelta(days=30))
    await collection.notices()
    # On the deadline day itself the patron may still pay: nothing is handed over.
    clock.advance(timedelta(days=7, hours=3))
    assert (await collection.handover()).handed_over == 0
    assert [c.state for c in await collection.cases(patron.id)] == ["notice_sent"]

    clock.advance(timedelta(days=1))
    report = await collection.handover()
    assert (report.handed_over, report.failures) == (1, 0)
    [case] = await collection.cases(patron.id)
    assert (case.state, case.amount_minor, case.agency) == ("handed_over", 15000, AGENCY)
    assert await collection.codes(patron.id) == [BlockCode.IN_COLLECTION]
    if "block_placed" in TEMPLATES:
        assert len(await collection.mails(patron.id, "block_placed")) == 1
    # The job again: nothing new.
    assert (await collection.handover()).handed_over == 0

    clock.advance(timedelta(days=10))
    async with world.runtime.unit(world.actor(ActorKind.AGENCY)) as ctx:
        await workflow.report_paid_in_full(ctx, case.id, reference="NC-991")
    assert await collection.codes(patron.id) == []
    [case] = await collection.cases(patron.id)
    assert (case.state, case.paid_minor) == ("paid_in_full", 15000)
    async with world.runtime.unit(readonly=True) as ctx:
        assert (await ledger_of(ctx, patron.id)).balance_minor == 0
        [payment] = (await ctx.session.scalars(select(Payment))).all()
        assert (payment.method, payment.amount_minor, payment.reference) == (
            "agency",
            15000,
            "NC-991",
        )
    if "block_lifted" in TEMPLATES:
        assert len(await collection.mails(patron.id, "block_lifted")) == 1


async def test_only_the_noticed_fees_are_handed_over(
    collection: Collection, clock: FrozenClock
) -> None:
    patron = await collection.patron(15000)
    clock.advance(timedelta(days=30))
    await collection.notices()
    clock.advance(timedelta(days=3))
    await collection.charge(patron.id, 5000)  # after the notice: not in this case
    await collection.pay(patron.id, 2000)  # oldest first: from the noticed fee
    clock.advance(timedelta(days=5))
    await collection.handover()
    [case] = await collection.cases(patron.id)
    assert (case.state, case.amount_minor) == ("handed_over", 13000)


async def test_a_debt_paid_down_below_the_minimum_is_settled(
    collection: Collection, clock: FrozenClock
) -> None:
    patron = await collection.patron(15000)
    clock.advance(timedelta(days=30))
    await collection.notices()
    await collection.pay(patron.id, 10000)  # 50.00 left: below the 100.00 minimum
    clock.advance(timedelta(days=8))
    await collection.handover()
    [case] = await collection.cases(patron.id)
    assert (case.state, case.closed_reason) == ("settled", "below_minimum")
    assert await collection.codes(patron.id) == []


async def test_who_gets_no_notice(collection: Collection, world: World, clock: FrozenClock) -> None:
    small = await collection.patron(9999)  # below the minimum
    paid = await collection.patron(15000)
    await collection.pay(paid.id, 15000)
    no_mail = await collection.patron(20000, email=None)
    clock.advance(timedelta(days=30))
    report = await collection.notices()
    assert (report.notices, report.mails) == (1, 0)  # the patron without an address
    assert await collection.cases(small.id) == []
    assert await collection.cases(paid.id) == []
    [case] = await collection.cases(no_mail.id)
    assert case.state == "notice_sent"  # the desk prints the letter instead


async def test_no_agency_no_notice_and_a_running_notice_is_cancelled(
    collection: Collection, world: World, clock: FrozenClock
) -> None:
    first = await collection.patron(15000)
    clock.advance(timedelta(days=30))
    await collection.notices()
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await update_institution(ctx, world.institution_id, {"collection_agency": None})
    second = await collection.patron(15000)
    clock.advance(timedelta(days=31))
    assert (await collection.notices()).notices == 0
    assert await collection.cases(second.id) == []
    report = await collection.handover()
    assert (report.handed_over, report.cancelled) == (0, 1)
    [case] = await collection.cases(first.id)
    assert (case.state, case.closed_reason) == ("cancelled", "collection_off")
    assert await collection.codes(first.id) == []


async def test_recalled_fees_are_not_noticed_again_but_new_debt_is(
    collection: Collection, world: World, clock: FrozenClock
) -> None:
    patron, case_id = await collection.handed_over(15000)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await workflow.recall(ctx, case_id, "The patron disputes the fine.")
    assert await collection.codes(patron.id) == []
    clock.advance(timedelta(days=1))
    assert (await collection.notices()).notices == 0
    await collection.charge(patron.id, 12000)
    clock.advance(timedelta(days=30))
    assert (await collection.notices()).notices == 1
    cases = await collection.cases(patron.id)
    assert [(c.state, c.amount_minor) for c in cases] == [
        ("recalled", 15000),
        ("notice_sent", 12000),
    ]
