"""A new student activates with the institution's login (R1, R2): from /activate to the
identity broker, whose login names the student's registry id, to choosing password and PIN, to
the card, in Chromium against the real server and OpenID provider. (SQLite only; see conftest.)
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page

from tests.e2e.desk_support import Terminal
from tests.e2e.support import (
    Admin,
    Broker,
    LibcardServer,
    Portal,
    alert_text,
    form_with,
    log_in,
    path_of,
    submit,
)

CHOSEN_PASSWORD = "Birch-Window-Ferry-64"
CHOSEN_PIN = "7391"


def _at_the_broker(page: Page, broker: Broker, person: str, student_id: str) -> None:
    page.wait_for_url(f"{broker.issuer}/interaction/**")
    form = form_with(page, "login")
    form.locator("[name=login]").fill(person)
    form.locator("[name=student_id]").fill(student_id)
    form.get_by_role("button", name="Log in").click()


def _choose(page: Page, password: str, pin: str, pin_repeat: str | None = None) -> None:
    form = form_with(page, "pin_repeat")
    form.locator("[name=password]").fill(password)
    form.locator("[name=password_repeat]").fill(password)
    form.locator("[name=pin]").fill(pin)
    form.locator("[name=pin_repeat]").fill(pin if pin_repeat is None else pin_repeat)
    submit(page, form)


def _card_number(page: Page) -> str:
    return re.sub(r"\D", "", page.locator("#card-number").inner_text())


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
    _at_the_broker(page, broker, f"person-{registry_id}", registry_id)
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
    assert _card_number(page) == student.ecard
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
    other.goto("/activate")
    form = form_with(other, "code")
    form.locator("[name=card_number]").fill(student.ecard)
    form.locator("[name=code]").fill(student.code)
    form.locator("[name=password]").fill("Other-Person-Guessing-11")
    form.locator("[name=password_repeat]").fill("Other-Person-Guessing-11")
    form.locator("[name=pin]").fill("5150")
    form.locator("[name=pin_repeat]").fill("5150")
    submit(other, form)
    assert path_of(other) == "/activate"
    assert "The card number or activation code is wrong." in alert_text(other), alert_text(other)

    # The password chosen at the single sign-on is the account's password.
    log_in(other, student.ecard, CHOSEN_PASSWORD)
    assert path_of(other) not in ("/login", "/activate"), alert_text(other)
