"""Paying fees online (R16) in Chromium against `libcard serve`: a fee-blocked patron logs in
strongly at the identity broker, pays with MobilePay on the payment simulator's page and may
borrow at once (the status API and a self-checkout machine over SIP2 say so), with the receipt
by mail; a declined card payment leaves the block in place. (SQLite only; see conftest.)

The broker is the strong-login tests' OpenID provider, the providers' pages are the payment
simulator that `serve` runs, and the self-checkout machine is made on the desk's admin page,
as a library would.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from libcard.sip2 import (
    LoginRequest,
    LoginResponse,
    PatronStatusRequest,
    PatronStatusResponse,
)
from tests.e2e.desk_support import BRANCH_NAME, StaffUsers, new_context
from tests.e2e.support import (
    Admin,
    Broker,
    LibcardServer,
    Mail,
    Mailbox,
    Patron,
    Portal,
    alert_text,
    log_in,
    log_in_at_broker,
    main_nav,
    no_space,
    path_of,
    run_axe,
    squash,
    submit,
)
from tests.sip2.blocking import exchange

# Over the institution's threshold (225.00 by default): 250.00 in two fees.
FEES = [(15000, "Overdue: 'Kongens Fald'"), (10000, "Overdue: 'Hærværk'")]
TOTAL = "250.00"
SETTLED_IN = 20.0  # seconds for the webhook to be applied; it usually takes well under one


@dataclass(frozen=True)
class Machine:
    """A self-checkout machine's settings, as the desk's admin page shows them once."""

    login: str
    password: str
    institution: str
    encoding: str


@pytest.fixture(scope="module")
def machine(browser: Browser, libcard: LibcardServer, staff_users: StaffUsers) -> Iterator[Machine]:
    """The library's administrator adds a self-checkout machine on the desk's admin page."""
    context = new_context(browser, libcard.base_url, storage_state=staff_users.admin.state)
    try:
        page = context.new_page()
        page.goto("/desk/admin/terminals/new")
        form = page.locator("form[action='/desk/admin/terminals']")
        form.locator("[name=branch]").select_option(label=BRANCH_NAME)
        form.locator("[name=login]").fill(f"sco-pay-{uuid.uuid4().hex[:6]}")
        form.locator("[name=name]").fill("Ground floor, by the entrance")
        submit(page, form)
        assert not alert_text(page), f"machine not created: {alert_text(page)}"
        shown = {
            key: squash(page.locator(f"#terminal-{key}").inner_text())
            for key in ("login", "password", "institution", "encoding")
        }
        yield Machine(**shown)
    finally:
        context.close()


# --- the self-checkout machine --------------------------------------------------------------


def _at_the_machine(
    libcard: LibcardServer, machine: Machine, patron: Patron
) -> PatronStatusResponse:
    """The machine logs in (93) and asks for the patron's status with the PIN (23)."""
    login, status = exchange(
        libcard.sip2_port,
        machine.encoding,
        LoginRequest(
            uid_algorithm="0",
            pwd_algorithm="0",
            login_user_id=machine.login,
            login_password=machine.password,
        ),
        PatronStatusRequest(
            language=0,
            transaction_date=datetime.now(),
            institution_id=machine.institution,
            patron_identifier=patron.ecard,
            terminal_password="",
            patron_password=patron.pin,
        ),
    )
    assert isinstance(login, LoginResponse), login
    assert login.ok, login
    assert isinstance(status, PatronStatusResponse), status
    assert (status.valid_patron, status.valid_patron_password) == (True, True), status
    return status


# --- the patron's side -------------------------------------------------------------------------


def _fee_blocked(admin: Admin) -> Patron:
    patron = admin.register("external")
    for minor, description in FEES:
        admin.charge(patron, minor, description)
    status = admin.status(patron.ecard)
    assert not status["may"]["borrow"], status
    assert "fee_threshold" in _block_codes(status), status["blocks"]
    return patron


def _block_codes(status: dict[str, Any]) -> list[str]:
    return [str(block["code"]) for block in status["blocks"]]


def _log_in_strongly(page: Page, broker: Broker, libcard: LibcardServer, person: str) -> None:
    """From the portal's "Pay fees" to the broker's login form, and back to /pay."""
    with page.expect_navigation():
        main_nav(page).get_by_role("link", name="Pay fees").click()
    log_in_at_broker(page, broker, person)
    page.wait_for_url(f"{libcard.base_url}/pay")


def _to_the_provider(page: Page, libcard: LibcardServer, button: str, provider: str) -> str:
    """Press a pay button; /pay/go sends the browser on to the simulator's hosted page.
    The payment's reference, as that page shows it."""
    page.get_by_role("button", name=button).click()
    page.wait_for_url(f"{libcard.payments_simulator_url}/pay/{provider}/**")
    reference = squash(page.get_by_test_id("reference").inner_text())
    assert re.fullmatch(r"lcp-[0-9a-f]{16}", reference), reference
    return reference


def _shoot_the_way_out(portal: Portal, page: Page, libcard: LibcardServer, reference: str) -> None:
    """A screenshot of /pay/go, which moves on at once: a second tab of the same browser
    whose requests to the simulator get "204 No Content", so the page stays put."""
    tab = page.context.new_page()
    tab.route(f"{libcard.payments_simulator_url}/**", lambda route: route.fulfill(status=204))
    tab.goto(f"/pay/go?ref={reference}")
    assert path_of(tab) == "/pay/go", tab.url
    link = tab.locator("#provider-link")
    expect(link).to_have_attribute("href", re.compile(re.escape(libcard.payments_simulator_url)))
    portal.shot(tab, "pay-go")
    tab.close()


def _choose(page: Page, libcard: LibcardServer, choice: str, reference: str) -> None:
    """Approve or Decline on the hosted page; the simulator sends the browser back."""
    page.get_by_role("button", name=choice).click()
    page.wait_for_url(f"{libcard.base_url}/pay/return?ref={reference}")


def _settled_state(page: Page) -> str:
    """The return page's state once the provider's answer is in: it says "being registered"
    with a "Check again" link until then, as the patron would click it."""
    deadline = time.monotonic() + SETTLED_IN
    while True:
        state = str(page.locator("#pay-state").get_attribute("data-state"))
        if state != "pending" or time.monotonic() > deadline:
            return state
        time.sleep(0.5)
        with page.expect_navigation():
            page.locator("#check-again").click()


def _no_axe_violation(page: Page, name: str) -> None:
    """Portal.axe fails on serious ones; these pages are to have none at all. The page is
    loaded again first: it must stay the same page (the strong login belongs to the portal
    session, so /pay does not send it to the broker again)."""
    shown = page.url
    page.goto(shown)
    assert page.url == shown, f"loaded again, {shown} became {page.url}"
    result = run_axe(page)
    found = [(v["id"], v["impact"], v["help"]) for v in result["violations"]]
    assert not found, f"axe on {name}: {found}"


def _mail_with(mailbox: Mailbox, address: str, text: str) -> Mail:
    """The first mail to `address` that holds `text` (block mails may come first)."""
    seen: list[str] = []
    while True:
        try:
            mail = mailbox.next_to(address)
        except AssertionError as missing:
            raise AssertionError(f"no mail with {text!r}; came: {seen}") from missing
        if text in mail.text:
            return mail
        seen.append(mail.subject)


# --- the stories -------------------------------------------------------------------------------


def test_a_fee_blocked_patron_logs_in_strongly_pays_with_mobilepay_and_may_borrow_at_once(
    admin: Admin,
    portal: Portal,
    mailbox: Mailbox,
    libcard: LibcardServer,
    broker: Broker,
    machine: Machine,
) -> None:
    admin.call("PATCH", f"/institutions/{admin.institution_id}", json={"payment_login": "strong"})
    patron = _fee_blocked(admin)
    assert patron.email is not None
    assert _at_the_machine(libcard, machine, patron).patron_status.charge_privileges_denied

    page = portal.page()
    log_in(page, patron.ecard, patron.password)
    _log_in_strongly(page, broker, libcard, f"person-{uuid.uuid4().hex[:8]}")

    # The overview of what paying settles: the amount, both fees, and the block that lifts.
    assert path_of(page) == "/pay"
    assert TOTAL in no_space(page.locator("#pay-amount").inner_text())
    expect(page.locator("#pay-settles")).to_have_text("This pays 2 fees in full.")
    fees = page.locator("#pay-form input[name=fee]")
    expect(fees).to_have_count(len(FEES))
    for index in range(len(FEES)):
        expect(fees.nth(index)).to_be_checked()
    form_text = page.locator("#pay-form").inner_text()
    for _, description in FEES:
        assert description in form_text, description
    expect(page.locator("#pay-lifts li[data-block=fee_threshold]")).to_have_count(1)
    expect(page.locator("#pay-stays")).to_have_count(0)
    portal.shot(page, "pay")
    _no_axe_violation(page, "/pay")

    reference = _to_the_provider(page, libcard, "Pay with MobilePay", "mobilepay")
    assert TOTAL in page.get_by_test_id("amount").inner_text()
    portal.shot(page, "simulator-mobilepay")
    _shoot_the_way_out(portal, page, libcard, reference)

    _choose(page, libcard, "Approve", reference)
    assert _settled_state(page) == "succeeded", alert_text(page) or page.inner_text("main")
    expect(page.locator("h1")).to_have_text("Paid")
    expect(page.locator("#no-fee-block")).to_be_visible()
    expect(page.locator("#receipt-method")).to_have_text("MobilePay")
    expect(page.locator("#receipt-reference")).to_have_text(reference)
    assert TOTAL in no_space(page.locator("#receipt-amount").inner_text())
    assert "0.00" in no_space(page.locator("#receipt-balance").inner_text())
    expect(page.locator("#receipt-settled tbody tr")).to_have_count(len(FEES))
    portal.shot(page, "pay-return-paid")
    _no_axe_violation(page, "/pay/return (paid)")

    with page.expect_navigation():
        page.get_by_role("link", name="Receipt on a page of its own").click()
    assert path_of(page) == f"/pay/receipt/{reference}"
    number = squash(page.locator("#receipt-number").inner_text())
    expect(page.locator("h1")).to_have_text(f"Receipt no. {number}")
    portal.shot(page, "pay-receipt")

    # Unblocked at once, wherever the library asks.
    status = admin.status(patron.ecard)
    assert status["may"]["borrow"], status
    assert "fee_threshold" not in _block_codes(status), status["blocks"]
    assert status["balance"]["amount_minor"] == 0, status["balance"]
    at_machine = _at_the_machine(libcard, machine, patron)
    assert not at_machine.patron_status.charge_privileges_denied, at_machine
    assert not at_machine.patron_status.excessive_outstanding_fees, at_machine

    mail = _mail_with(mailbox, patron.email, reference)
    assert f"{libcard.base_url}/pay/receipt/{reference}" in mail.text, mail.text
    assert re.search(r"250[.,]00", mail.text), mail.text
    for _, description in FEES:
        assert description in mail.text, description


def test_a_declined_card_payment_says_why_and_the_block_stays(
    admin: Admin, portal: Portal, libcard: LibcardServer, broker: Broker
) -> None:
    patron = _fee_blocked(admin)
    page = portal.page()
    log_in(page, patron.ecard, patron.password)
    _log_in_strongly(page, broker, libcard, f"person-{uuid.uuid4().hex[:8]}")

    reference = _to_the_provider(page, libcard, "Pay with card", "card")
    portal.shot(page, "simulator-card")
    _choose(page, libcard, "Decline", reference)

    assert _settled_state(page) == "failed", page.inner_text("main")
    expect(page.locator("h1")).to_have_text("Not paid")
    assert "declined" in alert_text(page), alert_text(page)
    assert "still blocked" in page.locator("main").inner_text()
    expect(page.locator("#blocks-left li")).to_have_count(1)
    threshold = next(
        b for b in admin.status(patron.ecard)["blocks"] if b["code"] == "fee_threshold"
    )
    assert squash(threshold["title"]) in squash(page.locator("#blocks-left").inner_text())
    portal.shot(page, "pay-return-declined")
    _no_axe_violation(page, "/pay/return (declined)")

    status = admin.status(patron.ecard)
    assert not status["may"]["borrow"], status
    assert "fee_threshold" in _block_codes(status), status["blocks"]
    assert status["balance"]["amount"] == TOTAL, status["balance"]
