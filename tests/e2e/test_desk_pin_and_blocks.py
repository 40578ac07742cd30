"""Lifting a PIN lockout at the desk only after a photo ID check (R6), and staff blocks with a
reason and an end date (R14e): what the page says, and what the terminals' API answers
afterwards. (SQLite only; see conftest.)"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.e2e.desk_support import Desk, Terminal, notice_text, open_action
from tests.e2e.support import (
    Admin,
    LibcardServer,
    alert_text,
    path_of,
    remove_csrf,
    squash,
    submit,
)

BLOCK_REASON = "Lent card to a friend: please come to the desk."


def _events(page: Page) -> str:
    return squash(page.locator("table#events").inner_text())


def test_a_pin_lockout_is_lifted_only_after_a_photo_id_check(
    desk: Desk, admin: Admin, libcard: LibcardServer
) -> None:
    patron = admin.register("external", first_name="Poul")
    terminal = Terminal(admin, libcard.base_url)
    try:
        terminal.lock(patron.ecard, patron.pin)
        page = desk.as_("desk")
        page.goto(f"/desk/patrons/{patron.id}")
        assert path_of(page) == f"/desk/patrons/{patron.id}"
        form = open_action(page, page.locator("#pin-unlock"))
        desk.check(page, "pin-locked")

        # As a person: without the tick the browser does not even send the form ...
        form.locator("[name=photo_id_kind]").select_option("passport")
        form.get_by_role("button", name="Lift the PIN lockout").click()
        assert form.locator("[name=photo_id_checked]").evaluate("(e) => !e.validity.valid")
        assert path_of(page) == f"/desk/patrons/{patron.id}", "sent without the tick"
        # ... and a browser that sends it anyway is refused by the server.
        form.locator("[name=photo_id_checked]").evaluate("(e) => e.removeAttribute('required')")
        submit(page, form)
        assert "Tick the box" in alert_text(page), alert_text(page)
        assert "Nothing was changed" in alert_text(page)
        desk.check(page, "pin-unlock-refused")
        still = terminal.verify(patron.ecard, patron.pin)
        assert still["locked"] is True, still
        assert still["valid"] is False, still
        assert "pin_locked" in {b["code"] for b in admin.status(patron.ecard)["blocks"]}

        page.goto(f"/desk/patrons/{patron.id}")
        form = open_action(page, page.locator("#pin-unlock"))
        form.locator("[name=photo_id_checked]").check()
        form.locator("[name=photo_id_kind]").select_option("driving_licence")
        form.locator("[name=note]").fill("Forgot the new PIN after a holiday")
        submit(page, form)
        assert "PIN lockout is lifted" in notice_text(page), notice_text(page)
        assert not alert_text(page), alert_text(page)
        desk.check(page, "pin-unlocked")
        expect(page.locator("#pin-unlock")).to_have_count(0)

        again = terminal.verify(patron.ecard, patron.pin)
        assert again["valid"] is True, again
        assert again["locked"] is False, again
        events = _events(page)
        assert "PIN lockout lifted" in events, events
        assert "Photo ID: Driving licence" in events, events
        assert "Forgot the new PIN after a holiday" in events, events
        assert desk.users.desk.name in events, events
        if desk.users.branch:
            assert desk.users.branch in events, events
    finally:
        terminal.close()
    desk.assert_clean()


def test_a_staff_block_with_an_end_date_stops_borrowing_until_it_is_lifted(
    desk: Desk, admin: Admin
) -> None:
    patron = admin.register("external", first_name="Bodil")
    assert admin.status(patron.ecard)["may"]["borrow"] is True
    ends = date.today() + timedelta(days=14)
    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{patron.id}")

    # A form sent without its CSRF token changes nothing.
    form = open_action(page, page.locator("#place-block"))
    form.locator("[name=reason]").fill(BLOCK_REASON)
    remove_csrf(form)
    answer = submit(page, form)
    assert answer is not None
    assert answer.status == 403, answer
    assert admin.status(patron.ecard)["blocks"] == [], "a block was placed without CSRF token"

    page.goto(f"/desk/patrons/{patron.id}")
    form = open_action(page, page.locator("#place-block"))
    desk.check(page, "place-block")
    form.locator("[name=reason]").fill(BLOCK_REASON)
    form.locator("[name=ends_on]").fill(ends.isoformat())
    submit(page, form)
    assert "block is placed" in notice_text(page), notice_text(page)
    desk.check(page, "blocked")
    block = page.locator("#blocks article.block")
    expect(block).to_have_count(1)
    assert BLOCK_REASON in block.inner_text()

    status = admin.status(patron.ecard)
    assert status["may"]["borrow"] is False, status
    (placed,) = status["blocks"]
    assert placed["code"] == "staff", placed
    assert BLOCK_REASON in placed["reason"], placed
    # The block ends at the start of the chosen day, library time.
    ends_at = datetime.fromisoformat(placed["ends_at"]).astimezone(ZoneInfo("Europe/Copenhagen"))
    assert (ends_at.date(), ends_at.hour, ends_at.minute) == (ends, 0, 0), placed
    events = _events(page)
    assert "Block placed" in events, events
    assert BLOCK_REASON in events, events

    form = open_action(page, block.locator("details.action"))
    form.locator("[name=note]").fill("Talked it through with the patron")
    submit(page, form)
    assert "block is lifted" in notice_text(page), notice_text(page)
    expect(page.locator("#blocks article.block")).to_have_count(0)
    desk.check(page, "lifted")
    status = admin.status(patron.ecard)
    assert status["may"]["borrow"] is True, status
    assert status["blocks"] == [], status
    events = _events(page)
    assert "Block lifted" in events, events
    assert "Talked it through with the patron" in events, events
    desk.assert_clean()
