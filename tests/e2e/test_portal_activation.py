"""A new patron's first steps, from the activation e-mail to a forgotten password (R1, R2, R3,
R7): real mail over SMTP, real pages in Chromium. (SQLite only; see conftest.)"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.support import (
    Admin,
    LibcardServer,
    Mailbox,
    Portal,
    activation_code,
    alert_text,
    digits,
    fill_password_and_pin,
    form_with,
    log_in,
    path_of,
    reset_link,
    submit,
)

NEW_PASSWORD = "Copper-Kettle-Meadow-91"


def _shows_the_card(page: Page, number: str) -> None:
    assert path_of(page) == "/card", page.url
    assert digits(page.locator("#card-number").inner_text()) == number
    for kind in ("code128", "qr"):
        svg = page.locator(f"svg.{kind}")
        expect(svg).to_have_count(1)
        expect(svg).to_have_attribute("role", "img")
        assert number in digits(svg.get_attribute("aria-label")), kind
    expect(page.locator("svg.code128")).to_be_visible()
    expect(page.locator("#card-state")).not_to_be_empty()
    expect(page.locator("#card-expiry")).not_to_be_empty()
    expect(page.locator(".banner")).to_have_count(0)  # active, not blocked: nothing to warn of
    if not page.locator("svg.qr").is_visible():  # it may sit behind a "Show as QR code"
        page.locator("details:has(svg.qr) > summary").click()
    expect(page.locator("svg.qr")).to_be_visible()


def test_new_patron_activates_from_the_mail_then_resets_a_forgotten_password(
    admin: Admin, mailbox: Mailbox, portal: Portal, libcard: LibcardServer
) -> None:
    patron = admin.register("external", channel="email", activate=False, first_name="Signe")
    assert patron.email is not None
    code = activation_code(mailbox.next_to(patron.email))

    page = portal.page()
    page.goto("/login")
    portal.shot(page, "login")
    with page.expect_navigation():
        page.get_by_role("link", name="Activate now").click()
    assert path_of(page) == "/activate"
    form = form_with(page, "code")
    form.locator("[name=card_number]").fill(patron.ecard)
    form.locator("[name=code]").fill(code)
    fill_password_and_pin(form, patron.password, patron.pin)
    portal.shot(page, "activate")
    submit(page, form)
    _shows_the_card(page, patron.ecard)
    portal.shot(page, "card")
    assert admin.patron(patron)["activated"] is True

    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    assert path_of(page) == "/login"
    page.goto("/card")
    assert path_of(page) == "/login", "after logging out, /card must not show the card"

    # Another phone was logged in before the password is reset.
    other = portal.page()
    log_in(other, patron.email, patron.password)
    assert path_of(other) == "/card"

    page.goto("/login")
    with page.expect_navigation():
        page.get_by_role("link", name="I have forgotten my password").click()
    assert path_of(page) == "/forgot-password"
    form = form_with(page, "email")
    form.locator("[name=email]").fill(patron.email)
    submit(page, form)
    portal.shot(page, "forgot-sent")
    assert not alert_text(page), alert_text(page)
    link = reset_link(mailbox.next_to(patron.email), libcard.base_url)

    page.goto(link)
    portal.shot(page, "reset")
    form = form_with(page, "password_repeat")
    form.locator("[name=password]").fill(NEW_PASSWORD)
    form.locator("[name=password_repeat]").fill(NEW_PASSWORD)
    submit(page, form)
    assert path_of(page) == "/login", page.url
    portal.shot(page, "after-reset")

    log_in(page, patron.email, patron.password)
    assert path_of(page) == "/login", "the old password still logs in"
    assert alert_text(page), "a refused login must say so in role=alert"

    other.goto("/card")
    assert path_of(other) == "/login", "a session from before the reset survived it"

    log_in(page, patron.email, NEW_PASSWORD)
    _shows_the_card(page, patron.ecard)

    # The link was single-use.
    fresh = portal.page()
    fresh.goto(link)
    form = form_with(fresh, "password_repeat")
    if form.count():
        form.locator("[name=password]").fill("Another-Fresh-Password-77")
        form.locator("[name=password_repeat]").fill("Another-Fresh-Password-77")
        submit(fresh, form)
    assert alert_text(fresh), "a used reset link must be refused"
