"""Taking money at the desk: the fees page, a payment in cash or by card terminal that settles
the oldest fees first (or the ticked ones), once only, never more than is owed; the fee block
lifting at once (R14b, R16); the printed receipt; nothing of another institution's."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from libcard.blocks.service import blocks_of
from libcard.context import ActorKind
from libcard.errors import InvalidInput
from libcard.fees.models import Payment
from libcard.fees.rules import FeeState, FeeType
from libcard.fees.service import FeeView, charge, fee_views
from libcard.kit.i18n import moment, money
from libcard.policy.rules import BlockCode
from libcard.web.desk.money_routes import parse_typed_amount
from tests.desk.conftest import DeskHarness, StaffHandle, audit_events
from tests.portal.conftest import alert, csrf, main_part


async def clerk(desk: DeskHarness, role: str = "desk") -> tuple[httpx.AsyncClient, StaffHandle]:
    """A staff member of `role` at the Main Library, logged in, reading English pages."""
    user = await desk.staff(role)
    client = await desk.logged_in(user)
    client.headers["accept-language"] = "en"
    return client, user


async def give_fee(
    desk: DeskHarness,
    patron_id: int,
    amount_minor: int,
    description: str = "Overdue: The Hobbit",
    fee_type: FeeType = FeeType.OVERDUE,
) -> int:
    """Charge a fee as the desk would; the clock moves on, so fees have an order."""
    async with desk.runtime.unit(desk.world.actor(ActorKind.DESK)) as ctx:
        fee = await charge(ctx, patron_id, fee_type, amount_minor, description)
    desk.clock.advance(timedelta(minutes=5))
    return fee.id


def hidden_fields(html: str, action: str) -> dict[str, str]:
    """The hidden inputs (csrf, idempotency key) of the form posting to `action`."""
    found = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', html, re.S)
    assert found, f"no form for {action}"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', found.group(0)))


async def payment_form(client: httpx.AsyncClient, patron_id: int) -> dict[str, str]:
    page = await client.get(f"/desk/patrons/{patron_id}/fees")
    assert page.status_code == 200, page.text
    return hidden_fields(page.text, f"/desk/patrons/{patron_id}/payments")


async def fees_now(desk: DeskHarness, patron_id: int) -> list[FeeView]:
    async with desk.runtime.unit(readonly=True) as ctx:
        return await fee_views(ctx, patron_id)


async def payments_of(desk: DeskHarness, patron_id: int) -> list[Payment]:
    async with desk.runtime.unit(readonly=True) as ctx:
        query = select(Payment).where(Payment.patron_id == patron_id).order_by(Payment.id)
        return list((await ctx.session.scalars(query)).all())


def dkk(minor: int) -> str:
    return money(minor, "DKK", "en")


async def test_a_cash_payment_is_recorded_once_and_settles_the_oldest_fee_first(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    older = await give_fee(desk, patron.id, 3000, "Overdue: Dune")
    newer = await give_fee(desk, patron.id, 5000, "Overdue: Emma")
    client, user = await clerk(desk)
    form = await payment_form(client, patron.id)
    answer = await client.post(
        f"/desk/patrons/{patron.id}/payments",
        data={**form, "amount": "40,00", "method": "cash", "note": "Paid at the counter"},
    )
    assert answer.status_code == 303, answer.text
    [payment] = await payments_of(desk, patron.id)
    assert answer.headers["location"] == f"/desk/payments/{payment.id}/receipt?done=paid"
    assert (payment.amount_minor, payment.method) == (4000, "cash")
    assert payment.branch_id == desk.branch_id
    assert payment.taken_by is not None
    assert user.username in payment.taken_by
    views = {v.fee.id: v.status for v in await fees_now(desk, patron.id)}
    assert views[older].state is FeeState.PAID
    assert (views[newer].state, views[newer].outstanding_minor) == (FeeState.PARTLY_PAID, 4000)
    [event] = await audit_events(desk.runtime, "fee:pay")
    assert event.actor_id == f"staff:{user.id}"
    assert event.branch_id == desk.branch_id
    assert event.reason == "Paid at the counter"
    page = await client.get(f"/desk/patrons/{patron.id}/fees")
    assert f'<strong id="balance">{dkk(4000)}</strong>' in page.text
    assert f'href="/desk/payments/{payment.id}/receipt"' in page.text


async def test_the_same_form_posted_twice_records_one_payment(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    await give_fee(desk, patron.id, 5000)
    client, _ = await clerk(desk)
    form = {**await payment_form(client, patron.id), "amount": "20", "method": "card_terminal"}
    first = await client.post(f"/desk/patrons/{patron.id}/payments", data=form)
    again = await client.post(f"/desk/patrons/{patron.id}/payments", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(await payments_of(desk, patron.id)) == 1
    assert [v.status.outstanding_minor for v in await fees_now(desk, patron.id)] == [3000]
    # A new form is a new payment.
    fresh = {**await payment_form(client, patron.id), "amount": "20", "method": "card_terminal"}
    assert fresh["idempotency_key"] != form["idempotency_key"]
    other = await client.post(f"/desk/patrons/{patron.id}/payments", data=fresh)
    assert other.status_code == 303
    assert len(await payments_of(desk, patron.id)) == 2


async def test_a_double_click_records_one_payment(desk: DeskHarness) -> None:
    """Both requests of a double click arrive together: the second gets the first's receipt."""
    patron = await desk.world.patron()
    await give_fee(desk, patron.id, 5000)
    client, _ = await clerk(desk)
    form = {**await payment_form(client, patron.id), "amount": "50", "method": "cash"}
    path = f"/desk/patrons/{patron.id}/payments"
    first, second = await asyncio.gather(client.post(path, data=form), client.post(path, data=form))
    assert first.status_code == second.status_code == 303, (first.text, second.text)
    assert first.headers["location"] == second.headers["location"]
    assert len(await payments_of(desk, patron.id)) == 1
    assert [v.status.state for v in await fees_now(desk, patron.id)] == [FeeState.PAID]


async def test_an_overpayment_is_refused_with_the_amount_owed_and_nothing_is_stored(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    await give_fee(desk, patron.id, 3000)
    await give_fee(desk, patron.id, 5000)
    client, _ = await clerk(desk)
    form = await payment_form(client, patron.id)
    refused = await client.post(
        f"/desk/patrons/{patron.id}/payments",
        data={**form, "amount": "100", "method": "cash"},
    )
    assert refused.status_code == 409
    owed = dkk(8000)
    assert alert(refused.text) == f"The payment is more than the {owed} owed. Take at most {owed}."
    assert 'id="payment-amount" name="amount" type="text" value="100"' in refused.text
    assert await payments_of(desk, patron.id) == []
    assert sum(v.status.outstanding_minor for v in await fees_now(desk, patron.id)) == 8000
    assert await audit_events(desk.runtime, "fee:pay") == []


async def test_a_payment_for_ticked_fees_settles_only_those(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    older = await give_fee(desk, patron.id, 3000, "Overdue: Dune")
    newer = await give_fee(desk, patron.id, 5000, "Overdue: Emma")
    client, _ = await clerk(desk)
    form = await payment_form(client, patron.id)
    too_much = await client.post(
        f"/desk/patrons/{patron.id}/payments",
        data={**form, "amount": "60", "method": "cash", f"settle-{newer}": "1"},
    )
    assert too_much.status_code == 409
    assert dkk(5000) in alert(too_much.text)
    assert f'id="settle-{newer}" name="settle-{newer}" value="1" checked' in too_much.text
    paid = await client.post(
        f"/desk/patrons/{patron.id}/payments",
        data={**form, "amount": "50.00", "method": "cash", f"settle-{newer}": "1"},
    )
    assert paid.status_code == 303
    states = {v.fee.id: v.status.state for v in await fees_now(desk, patron.id)}
    assert states == {older: FeeState.OPEN, newer: FeeState.PAID}


@pytest.mark.parametrize(
    ("typed", "minor"),
    [("50", 5000), ("50,00", 5000), ("50.00", 5000), ("50,5", 5050), (" 0.75 ", 75)],
)
def test_amounts_are_read_as_the_patron_says_them(typed: str, minor: int) -> None:
    assert parse_typed_amount(typed, "DKK") == minor


@pytest.mark.parametrize(
    "typed", ["", "50 kr", "-5", "+5", "1.000,00", "5,555", "1e3", "50.", ",50", "fifty"]
)
def test_other_amounts_are_refused(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_typed_amount(typed, "DKK")
    assert refused.value.code == "amount_format"


async def test_an_amount_the_desk_cannot_read_is_refused_and_kept_in_the_form(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    await give_fee(desk, patron.id, 5000)
    client, _ = await clerk(desk)
    form = await payment_form(client, patron.id)
    for typed, status, text in (
        ("50 kr", 422, "Write the amount as a number, like 50 or 50,00."),
        ("0", 422, "The amount must be above zero and below a million."),
    ):
        refused = await client.post(
            f"/desk/patrons/{patron.id}/payments",
            data={**form, "amount": typed, "method": "cash"},
        )
        assert refused.status_code == status
        assert alert(refused.text) == text
        assert f'value="{typed}"' in refused.text
    odd_method = await client.post(
        f"/desk/patrons/{patron.id}/payments",
        data={**form, "amount": "10", "method": "mobilepay"},
    )
    assert odd_method.status_code == 422
    assert await payments_of(desk, patron.id) == []


async def test_the_fee_block_lifts_as_soon_as_a_payment_settles_the_debt(
    desk: DeskHarness,
) -> None:
    """R14b, R16: at 225.00 the account is blocked; paying it all lifts the block at once."""
    patron = await desk.world.patron()
    await give_fee(desk, patron.id, 25000, "Replacement: atlas", FeeType.OVERDUE)
    client, _ = await clerk(desk)
    blocked = await client.get(f"/desk/patrons/{patron.id}/fees")
    assert "Blocked because of unpaid fees" in blocked.text
    assert 'data-block="fee_threshold"' in blocked.text
    async with desk.runtime.unit(readonly=True) as ctx:
        before, _ = await blocks_of(ctx, patron.id)
    assert BlockCode.FEE_THRESHOLD in {b.code for b in before}
    form = hidden_fields(blocked.text, f"/desk/patrons/{patron.id}/payments")
    paid = await client.post(
        f"/desk/patrons/{patron.id}/payments",
        data={**form, "amount": "250", "method": "card_terminal"},
    )
    assert paid.status_code == 303
    async with desk.runtime.unit(readonly=True) as ctx:
        after, _ = await blocks_of(ctx, patron.id)
    assert BlockCode.FEE_THRESHOLD not in {b.code for b in after}
    page = await client.get(f"/desk/patrons/{patron.id}/fees")
    assert 'data-block="fee_threshold"' not in page.text
    assert 'id="no-fee-block"' in page.text
    assert "Nothing is owed." in page.text


async def test_the_receipt_shows_what_was_paid_where_by_whom_and_what_is_left(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    await give_fee(desk, patron.id, 3000, "Overdue: Dune")
    await give_fee(desk, patron.id, 5000, "Overdue: Emma")
    await give_fee(desk, patron.id, 2000, "Overdue: Ulysses")
    client, _ = await clerk(desk)
    form = await payment_form(client, patron.id)
    paid = await client.post(
        f"/desk/patrons/{patron.id}/payments",
        data={**form, "amount": "60", "method": "card_terminal", "note": "Terminal slip 4711"},
    )
    location = paid.headers["location"]
    # A fee charged afterwards does not change what the receipt says was left.
    desk.clock.advance(timedelta(seconds=1))
    await give_fee(desk, patron.id, 10000, "Overdue: Atlas")
    page = await client.get(location)
    assert page.status_code == 200
    [payment] = await payments_of(desk, patron.id)
    text = page.text
    assert "The payment is recorded." in text
    assert "Print this page with Ctrl+P" in text
    assert 'class="paper"' in text
    assert f'<dd id="receipt-number">{payment.id}</dd>' in text
    assert '<dd id="receipt-branch">Main Library</dd>' in text
    assert "Nordby Library" in text
    assert "Sam Desk" in re.search(r'id="receipt-staff">([^<]*)<', text).group(1)  # type: ignore[union-attr]
    assert '<dd id="receipt-method">Card terminal</dd>' in text
    assert f'<strong id="receipt-amount">{dkk(6000)}</strong>' in text
    assert "Terminal slip 4711" in text
    assert patron.ecard in text
    settled = re.search(r'<table id="receipt-settled">.*?</table>', text, re.S)
    assert settled
    rows = re.findall(
        r"<tr>\s*<td>(.*?)</td>.*?<td class=\"amount\">(.*?)</td>", settled.group(0), re.S
    )
    assert [(name.split(" – ")[1], amount) for name, amount in rows] == [
        ("Overdue: Dune", dkk(3000)),
        ("Overdue: Emma", dkk(3000)),
    ]
    assert "Ulysses" not in settled.group(0)
    assert f'<strong id="receipt-balance">{dkk(4000)}</strong>' in text
    # Date and time in the institution's time zone (Copenhagen, UTC+1 in January).
    local = moment(payment.created_at, "en", "Europe/Copenhagen")
    assert "10:15" in local
    assert local in text


async def test_another_institutions_fees_and_receipts_answer_404(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    fee_id = await give_fee(desk, patron.id, 5000)
    client, _ = await clerk(desk)
    form = await payment_form(client, patron.id)
    paid = await client.post(
        f"/desk/patrons/{patron.id}/payments", data={**form, "amount": "10", "method": "cash"}
    )
    receipt = paid.headers["location"].split("?")[0]
    other_id, _ = await desk.other_institution()
    stranger = await desk.staff("admin", institution_id=other_id)
    other = await desk.logged_in(stranger)
    assert (await other.get(receipt)).status_code == 404
    assert (await other.get("/desk/payments/999999/receipt")).status_code == 404
    assert (await other.get(f"/desk/patrons/{patron.id}/fees")).status_code == 404
    own_page = await other.get("/desk/register")
    token = csrf(own_page.text)
    forged = await other.post(
        f"/desk/patrons/{patron.id}/payments",
        data={"csrf": token, "amount": "10", "method": "cash", "idempotency_key": "k-1"},
    )
    assert forged.status_code == 404
    waive = await other.post(
        f"/desk/fees/{fee_id}/waive", data={"csrf": token, "reason": "Not ours to waive"}
    )
    assert waive.status_code == 404
    assert len(await payments_of(desk, patron.id)) == 1
    assert [v.status.outstanding_minor for v in await fees_now(desk, patron.id)] == [4000]


async def test_a_payment_without_the_csrf_token_is_refused(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    await give_fee(desk, patron.id, 5000)
    client, _ = await clerk(desk)
    form = await payment_form(client, patron.id)
    del form["csrf"]
    refused = await client.post(
        f"/desk/patrons/{patron.id}/payments", data={**form, "amount": "10", "method": "cash"}
    )
    assert refused.status_code == 403
    assert "This form has expired" in alert(refused.text)
    assert await payments_of(desk, patron.id) == []
    assert "Take a payment" in main_part(refused.text)
