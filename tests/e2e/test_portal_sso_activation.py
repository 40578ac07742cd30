"""A new student activates with the institution's login (R1, R2): from /activate to the
identity broker, whose login names the student's registry id, to choosing password and PIN, to
the card, in Chromium against the real server and OpenID provider. (SQLite only; see conftest.)
"""

from __future__ import annotations

import uuid

from playwright.sync_api import Page

from tests.e2e.desk_support import Terminal
from tests.e2e.support import (
    Admin,
    Broker,
    LibcardServer,
    Portal,
    activation_form,
    alert_text,
    digits,
    fill_password_and_pin,
    form_with,
    log_in,
    log_in_at_broker,
    path_of,
    submit,
)

CHOSEN_PASSWORD = "Birch-Window-Ferry-64"
CHOSEN_PIN = "7391"


def _choose(page: Page, password: str, pin: str, pin_repeat: str | None = None) -> None:
    form = form_with(page, "pin_repeat")
    fill_password_and_pin(form, password, pin, pin_repeat=pin_repeat)
    submit(page, form)


def test_a_registry_student_activates_with_the_institutions_login_and_the_letter_stops_working(
    admin: Admin, portal: Portal, libcard: LibcardServer, broker: Broker
) -> None:
    registry_id = f"S{uuid.uuid4().hex[:8]}"
    student = admin.register("student", activate=False, registry_id=registry_id)
    assert student.code, "the registration answer carries the letter's activation code"

    page = portal.page()
    page.goto("/activate")
    with page.expect_navigation():
        page.locator("#sso-activate").click()
    log_in_at_broker(page, broker, f"person-{registry_id}", student_id=registry_id)
    page.wait_for_url(f"{libcard.base_url}/activate/sso")
    # Greeted by the name the registry gave: the student sees it is their account.
    assert page.locator("#activation-greeting").inner_text() == f"Hello {student.first_name},"
    portal.shot(page, "activate-sso")
    portal.axe(page, "activate with the institution's login")

    # A PIN typed differently the second time is refused on the page, and nothing changes.
    _choose(page, CHOSEN_PASSWORD, CHOSEN_PIN, pin_repeat="7392")
    assert path_of(page) == "/activate/sso"
    assert "The two PINs are not the same." in alert_text(page), alert_text(page)
    assert admin.patron(student)["activated"] is False

    _choose(page, CHOSEN_PASSWORD, CHOSEN_PIN)
    assert not alert_text(page), alert_text(page)
    assert path_of(page) == "/card", page.url
    assert digits(page.locator("#card-number").inner_text()) == student.ecard
    portal.shot(page, "card-after-sso-activation")
    assert admin.patron(student)["activated"] is True
    # The PIN chosen here is the one the self-checkout machines take.
    terminal = Terminal(admin, libcard.base_url)
    try:
        assert terminal.verify(student.ecard, CHOSEN_PIN)["valid"] is True
    finally:
        terminal.close()

    # The letter's code was for the same activation: it no longer works, in another browser.
    other = portal.page()
    form = activation_form(other, student.ecard, student.code, "Other-Person-Guessing-11", "5150")
    submit(other, form)
    assert path_of(other) == "/activate"
    assert "The card number or activation code is wrong." in alert_text(other), alert_text(other)

    # The password chosen at the single sign-on is the account's password.
    log_in(other, student.ecard, CHOSEN_PASSWORD)
    assert path_of(other) not in ("/login", "/activate"), alert_text(other)
