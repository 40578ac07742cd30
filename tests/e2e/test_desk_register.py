"""Registering a new patron at the desk (R1–R3): a form with a refusal for what is missing,
then the printable activation letter with the e-card number and a one-time code, and that
code activating the account in the patron portal. (SQLite only; see conftest.)"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.desk_support import Desk, notice_text, open_action
from tests.e2e.support import (
    PASSWORD,
    PIN,
    Admin,
    Portal,
    activation_form,
    alert_text,
    path_of,
    squash,
    submit,
)


def test_a_patron_registered_at_the_desk_activates_with_the_letters_code(
    desk: Desk, admin: Admin, portal: Portal
) -> None:
    tag = uuid.uuid4().hex[:6]
    last_name = f"Frederiksen-{tag}"
    email = f"ida.{tag}@example.org"
    page = desk.as_("desk")
    page.goto("/desk")
    with page.expect_navigation():
        page.locator("header nav").get_by_role("link", name="New patron").click()
    assert path_of(page) == "/desk/register", page.url
    desk.check(page, "register")

    form = page.locator("form[action='/desk/register']")
    form.locator("[name=first_name]").fill("Ida")
    form.locator("[name=birth_date]").fill("1991-05-17")
    form.locator("[name=street]").fill("Nørregade 7, 2. tv.")
    form.locator("[name=postal_code]").fill("9999")
    form.locator("[name=city]").fill("Nordby")
    form.locator("[name=email]").fill(email)
    form.locator("[name=preferred_language]").select_option("en")
    submit(page, form)  # the last name is missing
    assert path_of(page) == "/desk/register"
    assert "Fill in every field" in alert_text(page), alert_text(page)
    form = page.locator("form[action='/desk/register']")
    expect(form.locator("[name=last_name]")).to_have_attribute("aria-invalid", "true")
    assert form.locator("[name=first_name]").input_value() == "Ida", "the typed values are kept"
    desk.check(page, "register-refused")
    found = admin.call(
        "GET", f"/institutions/{admin.institution_id}/patrons", params={"email": email}
    )
    assert found == [], "a refused registration made a patron"

    form.locator("[name=last_name]").fill(last_name)
    form.locator("[name=note]").fill("Danish driving licence seen")
    submit(page, form)
    letter = page.locator("#activation-letter")
    expect(letter).to_be_visible()
    number = squash(letter.locator("#letter-card").inner_text())
    code = squash(letter.locator("#activation-code").inner_text())
    assert re.fullmatch(r"\d{14}", number), number
    assert len(code.replace("-", "").replace(" ", "")) == 10, code
    text = squash(letter.inner_text())
    assert f"Ida {last_name}" in text, text
    assert "Nørregade 7, 2. tv." in text, text
    assert "/activate" in text, text
    desk.check(page, "letter")

    # What the printer gets: the letter with its code, not the desk around it.
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator(".no-print").first).to_be_hidden()
    expect(page.locator("#activation-code")).to_be_visible()
    desk.shot(page, "letter-print")
    page.emulate_media(media="screen")

    with page.expect_navigation():
        page.get_by_role("link", name="Go to the patron").click()
    patron_path = path_of(page)
    assert re.fullmatch(r"/desk/patrons/\d+", patron_path), page.url
    assert "Not activated yet" in page.locator("section:has(#account-title)").inner_text()

    # The letter is lost before the patron gets home: the desk prints a new one.
    form = open_action(page, page.locator("#activation-letter"))
    form.locator("[name=reason]").fill("First letter lost")
    submit(page, form)
    assert "Codes given earlier no longer work" in notice_text(page), notice_text(page)
    assert squash(page.locator("#letter-card").inner_text()) == number
    new_code = squash(page.locator("#activation-code").inner_text())
    assert new_code != code
    desk.check(page, "new-letter")

    # The patron types the card number and a code from a letter in the portal.
    portal_page = portal.page()
    _activate(portal_page, number, code)
    assert path_of(portal_page) == "/activate", "the first letter's code still works"
    assert alert_text(portal_page), "an old code must be refused with role=alert"
    _activate(portal_page, number, new_code)
    assert path_of(portal_page) == "/card", f"{portal_page.url}: {alert_text(portal_page)}"
    portal.shot(portal_page, "portal-card-after-desk-registration")

    page.goto(patron_path)
    account = squash(page.locator("section:has(#account-title)").inner_text())
    assert "Activated Yes" in account, account
    events = squash(page.locator("table#events").inner_text())
    assert "Registered" in events, events
    registered = admin.call(
        "GET", f"/institutions/{admin.institution_id}/patrons", params={"email": email}
    )
    assert [p["last_name"] for p in registered] == [last_name], registered
    assert "Danish driving licence seen" in events, events
    assert desk.users.desk.name in events, events
    desk.assert_clean()


def _activate(page: Page, number: str, code: str) -> None:
    submit(page, activation_form(page, number, code, PASSWORD, PIN))
