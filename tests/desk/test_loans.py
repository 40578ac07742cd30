"""Loans at the desk (B2): check-out on the patron's own card, renewal, the check-in page that
says whose loan it was and whether it was overdue; refusals with the block and what lifts it
(R13, R17); another institution's staff see nothing. And the group's loan rules on the admin
page."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from markupsafe import escape

from libcard.blocks.service import account_blocks, place_staff_block
from libcard.blocks.texts import describe
from libcard.cards.service import find_card
from libcard.context import ActorKind
from libcard.kit.i18n import day, money
from libcard.loans.models import Loan
from libcard.loans.service import create_item, loans_of
from libcard.patrons.service import get_patron
from libcard.policy.models import PatronGroup
from tests.desk.conftest import DeskHarness, StaffHandle, audit_events
from tests.desk.test_admin_policy import form_values, submit
from tests.portal.conftest import alert, csrf

TIMEZONE = "Europe/Copenhagen"


async def _items(desk: DeskHarness, *barcodes: str) -> None:
    async with desk.runtime.unit(desk.world.actor(ActorKind.DESK)) as ctx:
        for barcode in barcodes:
            await create_item(
                ctx,
                desk.world.institution_id,
                barcode=barcode,
                title=f"Hærværk {barcode}",
                branch_id=desk.branch_id,
                replacement_cost_minor=25000,
            )


async def _loans(desk: DeskHarness, patron_id: int, *, open_only: bool = True) -> list[Loan]:
    async with desk.runtime.unit(readonly=True) as ctx:
        return await loans_of(ctx, patron_id, open_only=open_only)


async def _clerk(desk: DeskHarness) -> tuple[httpx.AsyncClient, StaffHandle]:
    user = await desk.staff("desk")
    return await desk.logged_in(user), user


async def _scan(client: httpx.AsyncClient, page: str, action: str, barcode: str) -> httpx.Response:
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    return await client.post(action, data={"item": barcode, "csrf": csrf(shown.text)})


async def test_check_out_renew_and_check_in_at_the_desk(desk: DeskHarness) -> None:
    patron = await desk.world.patron(physical=True)
    await _items(desk, "3900001")
    client, staff = await _clerk(desk)
    loans_page = f"/desk/patrons/{patron.id}/loans"
    view = await client.get(f"/desk/patrons/{patron.id}")
    assert f'href="{loans_page}"' in view.text

    page = await client.get(loans_page)
    assert f'<span class="mono">{patron.physical}</span>' in page.text  # lends on the card
    # Without the form's token nothing is lent.
    forged = await client.post(loans_page, data={"item": "3900001"})
    assert forged.status_code == 403
    assert await _loans(desk, patron.id) == []

    lent = await _scan(client, loans_page, loans_page, "3900001")
    assert lent.status_code == 303
    [loan] = await _loans(desk, patron.id)
    assert lent.headers["location"] == f"{loans_page}?done=out&loan={loan.id}"
    shown = await client.get(lent.headers["location"])
    due = day(loan.due_at, "en", TIMEZONE)
    assert f"Checked out: Hærværk 3900001, due on {due}." in shown.text
    async with desk.runtime.unit(readonly=True) as ctx:
        assert loan.card_id == (await find_card(ctx, patron.physical or "")).id
    [event] = await audit_events(desk.runtime, "loan:checkout")
    assert (event.actor_id, event.branch_id) == (f"staff:{staff.id}", desk.branch_id)

    desk.clock.advance(timedelta(days=10))
    client = await desk.logged_in(staff)  # the session of ten days ago has ended
    renewed = await _scan(client, loans_page, f"{loans_page}/renew", "3900001")
    assert renewed.status_code == 303
    [loan] = await _loans(desk, patron.id)
    assert loan.renewals == 1
    shown = await client.get(renewed.headers["location"])
    assert f"Renewed: Hærværk 3900001 is now due on {day(loan.due_at, 'en', TIMEZONE)}." in (
        shown.text
    )

    # Renewed early, the loan keeps its days: due 28 days after the first due date. Returned
    # two days after that.
    desk.clock.advance(timedelta(days=48))
    client = await desk.logged_in(staff)
    start = await client.get("/desk")
    assert 'href="/desk/checkin"' in start.text  # in the desk's navigation
    back = await _scan(client, "/desk/checkin", "/desk/checkin", "3900001")
    assert back.status_code == 303
    assert back.headers["location"] == f"/desk/checkin?loan={loan.id}"
    result = await client.get(back.headers["location"])
    borrower = re.search(r'<dd id="borrower">(.*?)</dd>', result.text)
    assert borrower is not None
    assert f'href="/desk/patrons/{patron.id}/loans"' in borrower.group(1)
    assert "Overdue: returned 2 days after the due date." in result.text
    fine = re.search(r'<p id="fine">(.*?)</p>', result.text)
    assert fine is not None  # 5.00 a day, the group's default
    assert f"Overdue fine on the patron's account: {money(1000, 'DKK', 'en')}." in fine.group(1)
    assert await _loans(desk, patron.id) == []
    [closed] = await _loans(desk, patron.id, open_only=False)
    assert closed.returned_at == desk.clock.now()
    # Again: the item is not on loan any more, and the desk says so.
    again = await _scan(client, "/desk/checkin", "/desk/checkin", "3900001")
    assert again.status_code == 409
    assert alert(again.text) == "This item is not on loan."


async def test_a_blocked_or_inactive_patron_is_refused_with_the_reason(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    waiting = await desk.world.patron(activate=False)
    await _items(desk, "3900001")
    async with desk.runtime.unit(desk.world.actor(ActorKind.DESK)) as ctx:
        await place_staff_block(ctx, patron.id, "Damaged atlas not paid for", None)
    client, _ = await _clerk(desk)
    loans_page = f"/desk/patrons/{patron.id}/loans"

    refused = await _scan(client, loans_page, loans_page, "3900001")
    assert refused.status_code == 409
    assert (
        alert(refused.text) == "The account is blocked, so this is refused. What lifts the block:"
    )
    async with desk.runtime.unit(readonly=True) as ctx:
        blocks, policy, _ = await account_blocks(ctx, await get_patron(ctx, patron.id))
    text = describe(blocks[0], policy, "en", TIMEZONE)
    refusal = re.search(r'role="alert".*?</div>', refused.text, re.S)
    assert refusal is not None
    for part in (text.title, text.reason, text.lift):
        assert str(escape(part)) in refusal.group(0)
    assert 'value="3900001"' in refused.text  # the scanned barcode stays in the field
    assert await _loans(desk, patron.id) == []

    # Before anyone scans, the page says why a patron without a usable card cannot borrow.
    page = await client.get(f"/desk/patrons/{waiting.id}/loans")
    problem = re.search(r'<p class="state-bad" id="card-problem">(.*?)</p>', page.text)
    assert problem is not None
    assert problem.group(1).startswith("The patron has not activated their account yet")
    assert f'action="/desk/patrons/{waiting.id}/loans"' not in page.text


async def test_another_institutions_desk_finds_no_such_patron(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    await _items(desk, "3900001")
    async with desk.runtime.unit(desk.world.actor(ActorKind.DESK)) as ctx:
        from libcard.loans.service import checkout

        await checkout(ctx, patron.ecard, "3900001")
    other_institution, _ = await desk.other_institution()
    stranger = await desk.staff("desk", institution_id=other_institution)
    client = await desk.logged_in(stranger)
    loans_page = f"/desk/patrons/{patron.id}/loans"
    assert (await client.get(loans_page)).status_code == 404
    token = csrf((await client.get("/desk/checkin")).text)
    for action in (loans_page, f"{loans_page}/renew"):
        answer = await client.post(action, data={"item": "3900001", "csrf": token})
        assert answer.status_code == 404, action
    checkin = await client.post("/desk/checkin", data={"item": "3900001", "csrf": token})
    assert checkin.status_code == 404
    [loan] = await _loans(desk, patron.id)
    assert (loan.renewals, loan.returned_at) == (0, None)


async def test_an_admin_sets_a_groups_loan_rules_and_a_wrong_value_is_refused(
    desk: DeskHarness,
) -> None:
    admin = await desk.staff("admin")
    client = await desk.logged_in(admin)
    group_id = desk.world.groups["external"]
    page = f"/desk/admin/groups/{group_id}"
    values = form_values((await client.get(page)).text, page)
    assert (values["loan_days"], values["fine_per_day"], values["lost_item_returned"]) == (
        "28",
        "5.00",
        "cancel",
    )
    cases = {
        "loan_days": ("0", "Loan period in days: write a whole number from 1 to 365."),
        "fine_cap": ("lots", "Most overdue fine per loan: write an amount like 225.00."),
        "lost_item_returned": (
            "burn",
            "Replacement invoice when a lost item comes back: choose one of the options.",
        ),
    }
    for field, (wrong, message) in cases.items():
        refused = await submit(client, page, page, {"max_loans": "7", field: wrong})
        assert refused.status_code == 422, field
        assert alert(refused.text) == message
        assert form_values(refused.text, page)["max_loans"] == "7"  # what was typed stays
    saved = await submit(
        client,
        page,
        page,
        {
            "loan_days": "14",
            "max_loans": "7",
            "max_renewals": "0",
            "fine_per_day": "2,50",
            "fine_cap": "75",
            "fine_grace_days": "3",
            "lost_after_days": "45",
            "lost_item_returned": "credit",
        },
    )
    assert saved.status_code == 303
    async with desk.runtime.unit(readonly=True) as ctx:
        group = await ctx.session.get(PatronGroup, group_id)
        assert group is not None
        stored = (
            group.loan_days,
            group.max_loans,
            group.max_renewals,
            group.fine_per_day_minor,
            group.fine_cap_minor,
            group.fine_grace_days,
            group.lost_after_days,
            group.lost_item_returned,
        )
    assert stored == (14, 7, 0, 250, 7500, 3, 45, "credit")
    [event] = await audit_events(desk.runtime, "policy:update")
    assert event.details["changes"]["fine_per_day_minor"] == 250
    shown = form_values((await client.get(page)).text, page)
    assert (shown["fine_per_day"], shown["lost_item_returned"]) == ("2.50", "credit")
