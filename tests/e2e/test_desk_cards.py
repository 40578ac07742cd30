"""Cards at the desk: a card reported lost (R10) and a lost e-card followed by a new one (R3),
a card marked stolen only with the photo-ID tick (R12), and a lost library card replaced for
the group's fee (R11); the terminals' API refuses the old cards and takes the new one.
(SQLite only; see conftest.)"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.desk_support import Desk, forge_post, notice_text, open_action
from tests.e2e.support import Admin, alert_text, no_space, squash, submit

FEE = "DKK 50.00"  # the external group's replacement fee (Admin.set_up_library), in English


def _card(page: Page, card_id: int | None) -> str:
    return squash(page.locator(f"#card-{card_id}").inner_text())


def test_a_lost_card_is_replaced_for_the_groups_fee(desk: Desk, admin: Admin) -> None:
    patron = admin.register("external", physical=True, first_name="Jens")
    assert patron.physical is not None
    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{patron.id}")

    form = open_action(page, page.locator(f"#card-{patron.physical_id} details.action").first)
    assert "Report lost" in squash(
        page.locator(f"#card-{patron.physical_id} details.action summary").first.inner_text()
    )
    form.locator("[name=note]").fill("Lost on the bus")
    submit(page, form)
    assert "reported lost" in notice_text(page), notice_text(page)
    assert "State Reported lost" in _card(page, patron.physical_id)
    lost = admin.status(patron.physical)
    assert lost["usable"] is False, lost
    assert admin.status(patron.ecard)["usable"] is True, "the e-card must keep working"

    replace = page.locator(
        f"#card-{patron.physical_id} details.action:has(form[action$='/replace'])"
    )
    form = open_action(page, replace)
    cost = squash(form.locator(".replace-cost").inner_text())
    assert no_space(FEE) in no_space(cost), cost
    button = squash(form.locator("[type=submit]").inner_text())
    assert no_space(FEE) in no_space(button), f"the button must say what it charges: {button}"
    desk.check(page, "replace-card")
    submit(page, form)
    notice = notice_text(page)
    assert "new card is issued" in notice, notice
    assert no_space(f"{FEE} has been charged") in no_space(notice), notice
    found = re.search(r"New card number: (\d{14})", notice)
    assert found, notice
    new_number = found.group(1)
    desk.check(page, "replaced")

    assert no_space(FEE) in no_space(page.locator("#balance").inner_text())
    fees = squash(page.locator("table#open-fees").inner_text())
    assert no_space(FEE) in no_space(fees), fees
    new = admin.status(new_number)
    assert new["usable"] is True, new
    assert admin.status(patron.physical)["usable"] is False
    events = squash(page.locator("table#events").inner_text())
    assert "Card replaced" in events, events
    assert "Card reported lost" in events, events
    assert "Lost on the bus" in events, events
    desk.assert_clean()


def test_a_lost_ecard_gets_a_new_number_at_once(desk: Desk, admin: Admin) -> None:
    patron = admin.register("external", first_name="Else")
    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{patron.id}")
    ecard = page.locator(f"#card-{patron.ecard_id}")
    form = open_action(page, ecard.locator("details.action:has(form[action$='/lost'])"))
    submit(page, form)
    notice = notice_text(page)
    found = re.search(r"new e-card number is (\d{14})", notice)
    assert found, notice
    assert found.group(1) != patron.ecard
    assert admin.status(patron.ecard)["usable"] is False
    assert admin.status(found.group(1))["usable"] is True
    desk.check(page, "ecard-lost")
    desk.assert_clean()


def test_a_card_is_marked_stolen_only_with_the_photo_id_tick(desk: Desk, admin: Admin) -> None:
    patron = admin.register("external", physical=True, first_name="Karsten")
    assert patron.physical is not None
    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{patron.id}")
    stolen = page.locator(f"#card-{patron.physical_id} details.action:has(form[action$='/stolen'])")
    form = open_action(page, stolen)
    form.locator("[name=photo_id_kind]").select_option("national_id_card")
    desk.check(page, "mark-stolen")

    # Without the tick the browser keeps the form; sent anyway, the server refuses it.
    form.get_by_role("button", name="Mark this card stolen").click()
    assert form.locator("[name=patron_seen]").evaluate("(e) => !e.validity.valid")
    form.locator("[name=patron_seen]").evaluate("(e) => e.removeAttribute('required')")
    submit(page, form)
    assert "tick the box" in alert_text(page), alert_text(page)
    assert "Nothing was changed" in alert_text(page)
    desk.check(page, "mark-stolen-refused")
    assert admin.status(patron.physical)["usable"] is True, "marked stolen without the tick"
    assert "State Active" in _card(page, patron.physical_id)

    form = open_action(page, stolen)
    form.locator("[name=patron_seen]").check()
    form.locator("[name=photo_id_kind]").select_option("national_id_card")
    form.locator("[name=note]").fill("Bag stolen at the station")
    submit(page, form)
    assert "marked stolen" in notice_text(page), notice_text(page)
    assert "State Reported stolen" in _card(page, patron.physical_id)
    status = admin.status(patron.physical)
    assert status["usable"] is False, status
    events = squash(page.locator("table#events").inner_text())
    assert "Card marked stolen" in events, events
    assert "Photo ID: National identity card" in events, events
    desk.assert_clean()


def test_a_physical_card_is_issued_to_a_patron_without_one(desk: Desk, admin: Admin) -> None:
    patron = admin.register("external", first_name="Tove")
    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{patron.id}")
    form = open_action(page, page.locator("#issue-card"))
    form.locator("[name=note]").fill("Wants a plastic card")
    desk.check(page, "issue-card")
    submit(page, form)
    notice = notice_text(page)
    assert "library card is issued" in notice, notice
    found = re.search(r"New card number: (\d{14})", notice)
    assert found, notice
    status = admin.status(found.group(1))
    assert status["usable"] is True, status
    assert status["card"]["kind"] == "physical", status
    assert no_space("DKK 0.00") in no_space(page.locator("#balance").inner_text()), "a fee"

    # One library card in use at a time: the form is gone, and a forged one is refused.
    expect(page.locator("#issue-card")).to_have_count(0)
    forged = forge_post(page, f"/desk/patrons/{patron.id}/cards", {"note": "second card"})
    assert forged.status == 409, (forged.status, forged.text()[:300])
    assert "has a library card in use already" in forged.text()
    cards = admin.call("GET", f"/patrons/{patron.id}/cards")
    assert [c["kind"] for c in cards].count("physical") == 1, cards
    desk.assert_clean()
