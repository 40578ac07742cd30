"""The payment overview in the portal (R16, R17): open fees all chosen, what paying settles
and which blocks lift, the way to the provider and back, receipts, and nobody else's payment."""

from __future__ import annotations

import html as html_lib
import re

import httpx

from libcard.context import ActorKind
from libcard.fees.rules import FeeType
from libcard.policy.rules import BlockCode
from libcard.policy.service import update_institution
from tests.payments.conftest import Payments
from tests.portal.conftest import Portal, alert, csrf, main_part


async def _setup(portal: Portal, payments: Payments, login: str = "none") -> None:
    """The providers in memory; a portal login is enough to pay unless `login` is "strong"."""
    portal.app.state.payment_providers = payments.providers
    async with portal.runtime.unit(portal.world.actor(ActorKind.ADMIN)) as ctx:
        await update_institution(ctx, portal.world.institution_id, {"payment_login": login})


def _reference(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/pay/go?ref=")
    return location.split("=", 1)[1]


async def test_the_patron_pays_all_fees_by_card_and_the_block_is_gone(
    portal: Portal, payments: Payments
) -> None:
    await _setup(portal, payments)
    patron = await portal.patron(preferred_language="en")
    overdue = await payments.charge(patron, 20000)
    replacement = await payments.charge(patron, 5000, FeeType.REPLACEMENT)
    client = await portal.logged_in(patron)

    page = await client.get("/pay")
    assert page.status_code == 200
    main = main_part(page.text)
    for fee_id in (overdue, replacement):
        assert f'name="fee" value="{fee_id}" checked' in main
    assert "250.00" in main
    assert 'data-block="fee_threshold"' in main
    assert 'data-block="replacement_unpaid"' in main
    assert 'id="pay-card"' in main
    assert 'id="pay-mobilepay"' in main

    posted = await client.post(
        "/pay",
        data={"csrf": csrf(page.text), "fee": [str(overdue), str(replacement)], "provider": "card"},
    )
    reference = _reference(posted)
    go = await client.get(f"/pay/go?ref={reference}")
    assert go.status_code == 200
    [started] = await payments.online_payments(patron)
    assert started.amount_minor == 25000
    assert f'content="0; url={started.redirect_url}"' in go.text
    assert f'href="{started.redirect_url}"' in go.text

    # Back from the provider before its webhook: the page looks the payment up itself.
    payments.card.approve(reference)
    back = await client.get(f"/pay/return?ref={reference}")
    assert back.status_code == 200
    assert 'data-state="succeeded"' in back.text
    assert 'id="no-fee-block"' in back.text
    assert 'id="receipt-amount"' in back.text
    assert await payments.codes(patron) == []
    receipt = await client.get(f"/pay/receipt/{reference}")
    assert receipt.status_code == 200
    assert "250.00" in main_part(receipt.text)
    assert (await client.get("/overview")).text.count("Your card is not blocked.") == 1


async def test_a_choice_shows_what_it_settles_and_pays_only_that(
    portal: Portal, payments: Payments
) -> None:
    await _setup(portal, payments)
    patron = await portal.patron(preferred_language="en")
    await payments.charge(patron, 20000)
    replacement = await payments.charge(patron, 5000, FeeType.REPLACEMENT)
    client = await portal.logged_in(patron)
    page = await client.get("/pay")
    shown = await client.post(
        "/pay", data={"csrf": csrf(page.text), "fee": str(replacement), "provider": ""}
    )
    assert shown.status_code == 200
    main = main_part(shown.text)
    assert re.search(r'id="pay-amount">[^<]*50\.00', main)
    assert 'id="pay-lifts"' in main
    assert 'data-block="replacement_unpaid"' in main
    stays = main[main.index('id="pay-stays"') :]
    assert 'data-block="fee_threshold"' in stays
    reference = _reference(
        await client.post(
            "/pay", data={"csrf": csrf(shown.text), "fee": str(replacement), "provider": "card"}
        )
    )
    payments.card.approve(reference)
    await client.get(f"/pay/return?ref={reference}")
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]


async def test_nothing_chosen_or_another_patrons_fee_is_refused_with_the_reason(
    portal: Portal, payments: Payments
) -> None:
    await _setup(portal, payments)
    patron = await portal.patron(preferred_language="en")
    other = await portal.patron(preferred_language="en")
    await payments.charge(patron, 20000)
    theirs = await payments.charge(other, 20000)
    client = await portal.logged_in(patron)
    page = await client.get("/pay")
    nothing = await client.post("/pay", data={"csrf": csrf(page.text), "provider": "card"})
    assert nothing.status_code == 422
    assert alert(nothing.text) == "Choose at least one fee to pay."
    foreign = await client.post(
        "/pay", data={"csrf": csrf(page.text), "fee": str(theirs), "provider": "card"}
    )
    assert foreign.status_code == 404
    assert "not on your account" in alert(foreign.text)
    # A digit to Unicode that is no number to Python is refused like any other non-number.
    for bad in ("²", "abc", "-1"):
        shown = await client.get("/pay", params={"fee": bad})
        assert shown.status_code == 422, (bad, shown.status_code)
        posted = await client.post(
            "/pay", data={"csrf": csrf(page.text), "fee": bad, "provider": "card"}
        )
        assert posted.status_code == 422, (bad, posted.status_code)
    assert await payments.online_payments(patron) == []
    assert await payments.online_payments(other) == []


async def test_a_post_without_the_forms_token_starts_nothing(
    portal: Portal, payments: Payments
) -> None:
    await _setup(portal, payments)
    patron = await portal.patron(preferred_language="en")
    fee = await payments.charge(patron, 20000)
    client = await portal.logged_in(patron)
    await client.get("/pay")
    for token in ("", "made-up"):
        refused = await client.post(
            "/pay", data={"csrf": token, "fee": str(fee), "provider": "card"}
        )
        assert refused.status_code == 403
        assert "This form has expired" in alert(refused.text)
    # Another visitor's token does not work either.
    stranger = await portal.browser()
    other_token = csrf((await stranger.get("/login")).text)
    refused = await client.post(
        "/pay", data={"csrf": other_token, "fee": str(fee), "provider": "card"}
    )
    assert refused.status_code == 403
    assert await payments.online_payments(patron) == []
    assert payments.card.created == []


async def test_another_patrons_payment_is_not_found(portal: Portal, payments: Payments) -> None:
    await _setup(portal, payments)
    owner = await portal.patron(preferred_language="en")
    await payments.charge(owner, 20000)
    started = await payments.start(owner)
    await payments.receive("card", payments.card.approve(started.reference))
    intruder = await portal.logged_in(await portal.patron(preferred_language="en"))
    for path in (
        f"/pay/return?ref={started.reference}",
        f"/pay/receipt/{started.reference}",
        f"/pay/go?ref={started.reference}",
        "/pay/return?ref=lcp-0000000000000000",
    ):
        answer = await intruder.get(path)
        assert answer.status_code == 404, path
        assert started.reference not in main_part(answer.text)
    anonymous = await portal.browser()
    assert (await anonymous.get(f"/pay/receipt/{started.reference}")).status_code == 303
    assert (await anonymous.get("/pay")).headers["location"].startswith("/login")


async def test_a_declined_payment_says_why_and_that_the_block_holds(
    portal: Portal, payments: Payments
) -> None:
    await _setup(portal, payments)
    patron = await portal.patron(preferred_language="en")
    fee = await payments.charge(patron, 30000)
    client = await portal.logged_in(patron)
    page = await client.get("/pay")
    reference = _reference(
        await client.post(
            "/pay", data={"csrf": csrf(page.text), "fee": str(fee), "provider": "mobilepay"}
        )
    )
    payments.mobilepay.decline(reference)
    back = await client.get(f"/pay/return?ref={reference}")
    assert back.status_code == 200
    assert 'data-state="failed"' in back.text
    assert alert(back.text) == "The payment was declined or could not be carried out."
    assert "Your card is still blocked:" in back.text
    assert 'href="/pay"' in main_part(back.text)
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]
    assert (await client.get(f"/pay/receipt/{reference}")).status_code == 404


async def test_back_before_the_payment_is_confirmed_says_it_is_being_registered(
    portal: Portal, payments: Payments
) -> None:
    await _setup(portal, payments)
    patron = await portal.patron(preferred_language="en")
    fee = await payments.charge(patron, 30000)
    client = await portal.logged_in(patron)
    page = await client.get("/pay")
    reference = _reference(
        await client.post(
            "/pay", data={"csrf": csrf(page.text), "fee": str(fee), "provider": "card"}
        )
    )
    waiting = await client.get(f"/pay/return?ref={reference}")
    assert 'data-state="pending"' in waiting.text
    assert 'id="check-again"' in waiting.text
    # The webhook arrives; checking again shows the payment done.
    await payments.receive("card", payments.card.approve(reference))
    done = await client.get(f"/pay/return?ref={reference}")
    assert 'data-state="succeeded"' in done.text
    assert await payments.ledger_payments(patron) == 1


async def test_a_patron_who_owes_nothing_and_a_provider_that_is_down(
    portal: Portal, payments: Payments
) -> None:
    await _setup(portal, payments)
    patron = await portal.patron(preferred_language="en")
    client = await portal.logged_in(patron)
    nothing = await client.get("/pay")
    assert 'id="nothing-owed"' in nothing.text
    fee = await payments.charge(patron, 30000)
    payments.card.down = True
    page = await client.get("/pay")
    down = await client.post(
        "/pay", data={"csrf": csrf(page.text), "fee": str(fee), "provider": "card"}
    )
    assert down.status_code == 503
    assert "Nothing was paid" in html_lib.unescape(alert(down.text))
    assert await payments.codes(patron) == [BlockCode.FEE_THRESHOLD]


async def test_a_strong_login_comes_first_when_the_policy_asks_for_it(
    portal: Portal, payments: Payments
) -> None:
    await _setup(portal, payments, login="strong")
    patron = await portal.patron(preferred_language="en")
    fee = await payments.charge(patron, 30000)
    client = await portal.logged_in(patron)
    page = await client.get("/pay")
    assert page.status_code == 303
    assert page.headers["location"] == "/login/strong?next=/pay"
    token = csrf((await client.get("/overview")).text)
    posted = await client.post("/pay", data={"csrf": token, "fee": str(fee), "provider": "card"})
    assert posted.status_code == 303
    assert posted.headers["location"] == "/login/strong?next=/pay"
    assert await payments.online_payments(patron) == []
