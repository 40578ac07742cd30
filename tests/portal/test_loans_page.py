"""My loans (B2, R13, R17): the patron sees their loans with due dates in their language,
renews one, reads why a renewal is refused (a block with what lifts it, the most renewals),
and cannot renew anyone else's loan."""

from __future__ import annotations

import re
from datetime import timedelta

from markupsafe import escape

from libcard.blocks.service import account_blocks, place_staff_block
from libcard.blocks.texts import describe
from libcard.context import ActorKind
from libcard.kit.i18n import day, translate
from libcard.loans.models import Loan
from libcard.loans.service import checkin, checkout, create_item, loans_of
from libcard.patrons.service import get_patron
from libcard.policy.branches import create_branch
from libcard.policy.models import PatronGroup
from tests.conftest import PatronHandle
from tests.portal.conftest import Portal, alert, csrf, main_part

TIMEZONE = "Europe/Copenhagen"


async def _lend(portal: Portal, lending: dict[str, PatronHandle]) -> dict[str, Loan]:
    """Each barcode lent to its patron at a self-checkout machine, on their e-card."""
    world = portal.world
    async with portal.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        branch = await create_branch(ctx, world.institution_id, code="main", name="Main Library")
        for barcode in lending:
            await create_item(
                ctx,
                world.institution_id,
                barcode=barcode,
                title=f"Kongens Fald {barcode}",
                branch_id=branch.id,
                replacement_cost_minor=25000,
            )
    loans = {}
    async with portal.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        for barcode, patron in lending.items():
            loans[barcode] = await checkout(ctx, patron.ecard, barcode)
    return loans


async def _open_loans(portal: Portal, patron_id: int) -> dict[int, Loan]:
    async with portal.runtime.unit(readonly=True) as ctx:
        return {loan.item_id: loan for loan in await loans_of(ctx, patron_id)}


def _row(html: str, loan: Loan) -> str:
    found = re.search(rf'<tr id="loan-{loan.id}".*?</tr>', html, re.S)
    assert found, html
    return found.group(0)


async def test_the_patron_sees_renews_and_cannot_renew_another_patrons_loan(
    portal: Portal,
) -> None:
    me, other = await portal.patron(), await portal.patron()
    loans = await _lend(portal, {"3800001": me, "3800002": me, "3800003": other})
    portal.clock.advance(timedelta(days=1))
    async with portal.runtime.unit(portal.world.actor(ActorKind.DESK)) as ctx:
        await checkin(ctx, "3800002")
    portal.clock.advance(timedelta(days=30))  # the first loan is two days overdue
    client = await portal.logged_in(me, await portal.browser(**{"accept-language": "en"}))

    page = await client.get("/loans")
    assert page.status_code == 200
    assert '<a href="/loans" aria-current="page">My loans</a>' in page.text
    first = _row(page.text, loans["3800001"])
    assert "Kongens Fald 3800001" in first
    assert day(loans["3800001"].due_at, "en", TIMEZONE) in first
    assert "Overdue" in first
    assert "0 of 3 times" in first
    returned = re.search(r'<table id="returned".*?</table>', page.text, re.S)
    assert returned is not None
    assert "Kongens Fald 3800002" in returned.group(0)
    assert "3800003" not in page.text  # the other patron's loan

    renewed = await client.post("/loans/renew", data={"item": "3800001", "csrf": csrf(page.text)})
    assert renewed.status_code == 303
    assert renewed.headers["location"] == f"/loans?renewed={loans['3800001'].id}"
    after = await client.get(renewed.headers["location"])
    loan = (await _open_loans(portal, me.id))[loans["3800001"].item_id]
    assert loan.renewals == 1
    assert loan.due_at - portal.clock.now() > timedelta(days=27)  # a full period from today
    new_due = day(loan.due_at, "en", TIMEZONE)
    assert f"Kongens Fald 3800001 is renewed. It is now due on {new_due}." in after.text
    assert "1 of 3 times" in _row(after.text, loan)

    # A forged form naming someone else's item answers like an item never borrowed.
    forged = await client.post("/loans/renew", data={"item": "3800003", "csrf": csrf(page.text)})
    assert forged.status_code == 404
    assert alert(forged.text) == (
        "You have no loan of this item. It may have been returned already."
    )
    assert (await _open_loans(portal, other.id))[loans["3800003"].item_id].renewals == 0

    async with portal.runtime.unit() as ctx:
        group = await ctx.session.get(PatronGroup, portal.world.groups["external"])
        assert group is not None
        group.max_renewals = 1
    refused = await client.post("/loans/renew", data={"item": "3800001", "csrf": csrf(page.text)})
    assert refused.status_code == 409
    assert alert(refused.text) == (
        "This loan has been renewed as often as allowed (1). Return the item, or ask at the "
        "lending desk."
    )


async def test_a_blocked_patron_reads_which_block_stops_the_renewal_and_what_lifts_it(
    portal: Portal,
) -> None:
    me = await portal.patron()
    loans = await _lend(portal, {"3800001": me})
    async with portal.runtime.unit(portal.world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, me.id, "Damaged book not paid", None)
    client = await portal.logged_in(me)  # Danish, the library's language

    page = await client.get("/loans")
    assert 'id="renew-blocked"' in page.text
    for english in ("My loans", "On loan", "Due", "Renew"):
        assert f">{english}<" not in main_part(page.text)
        assert f">{translate('da', english)}<" in main_part(page.text)
    response = await client.post("/loans/renew", data={"item": "3800001", "csrf": csrf(page.text)})
    assert response.status_code == 409
    async with portal.runtime.unit(readonly=True) as ctx:
        blocks, policy, _ = await account_blocks(ctx, await get_patron(ctx, me.id))
    text = describe(blocks[0], policy, "da", TIMEZONE)
    refusal = re.search(r'role="alert".*?</div>', response.text, re.S)
    assert refusal is not None
    assert alert(response.text) == translate(
        "da", "Your card is blocked, so loans cannot be renewed. What lifts the block:"
    )
    for part in (text.title, text.reason, text.lift):
        assert str(escape(part)) in refusal.group(0)
    assert "Damaged book not paid" in text.reason
    assert (await _open_loans(portal, me.id))[loans["3800001"].item_id].renewals == 0
