"""Staff login at the desk in Chromium: the first login sets up the authenticator app (QR
code, key, code, recovery codes), later logins ask for the app's code or a recovery code, a
wrong or replayed code is refused, logging out ends the session, and all of it works with
the keyboard alone. (SQLite only; see conftest.)"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.desk_support import (
    STAFF_COOKIE,
    Desk,
    code_step,
    create_staff,
    has_focus,
    log_out,
    notice_text,
    password_step,
    read_key,
    read_recovery_codes,
    totp_now,
    wrong_code,
)
from tests.e2e.support import Admin, LibcardServer, alert_text, path_of, squash


def test_first_login_enrols_the_app_and_later_logins_take_a_code_or_a_recovery_code(
    desk: Desk, libcard: LibcardServer
) -> None:
    user = create_staff(libcard, "desk", name="Nina Nyansat")
    page = desk.anonymous()

    page.goto("/desk")
    assert path_of(page) == "/desk/login", "the desk must ask for a login first"
    desk.check(page, "login")
    password_step(page, user, "Not-The-Password-99")
    assert path_of(page) == "/desk/login"
    assert "wrong" in alert_text(page).lower(), alert_text(page)
    desk.check(page, "login-refused")

    password_step(page, user)
    assert path_of(page) == "/desk/enrol", page.url
    qr = page.locator(".qr-box svg")
    expect(qr).to_be_visible()
    assert qr.get_attribute("role") == "img"
    assert qr.get_attribute("aria-label"), "the QR code needs a text alternative"
    key = read_key(page)
    desk.check(page, "enrol")

    code_step(page, wrong_code(key))
    assert path_of(page) == "/desk/enrol", page.url
    assert alert_text(page), "a wrong code must be refused with role=alert"
    assert read_key(page) == key, "the key must stay the same until the app is set up"
    desk.check(page, "enrol-refused")

    first_code = totp_now(key)
    code_step(page, first_code)
    assert not alert_text(page), alert_text(page)
    codes = read_recovery_codes(page)
    assert len(set(codes)) == len(codes) == 10, codes
    assert squash(page.locator("h1").inner_text()) == "Recovery codes"
    desk.check(page, "recovery-codes")
    with page.expect_navigation():
        page.get_by_role("link", name="I have kept them – continue").click()
    assert path_of(page) == "/desk", page.url
    assert user.name in page.locator("header").inner_text()
    desk.check(page, "home")
    page.goto("/desk/account")
    facts = squash(page.locator("main dl.facts").inner_text())
    assert user.username in facts, facts
    assert "Recovery codes left 10" in facts, facts
    desk.check(page, "account")

    cookies = {c["name"]: c for c in page.context.cookies()}
    assert STAFF_COOKIE in cookies, sorted(cookies)
    staff_cookie = cookies[STAFF_COOKIE]
    assert staff_cookie["httpOnly"] is True, staff_cookie
    assert staff_cookie["secure"] is True, staff_cookie
    assert staff_cookie["sameSite"] == "Lax", staff_cookie

    log_out(page)
    assert "logged out" in notice_text(page), notice_text(page)
    page.goto("/desk")
    assert path_of(page) == "/desk/login", "after logging out, /desk must ask for a login"

    # The second login asks for the app's code: the one used to enrol is spent.
    password_step(page, user)
    assert path_of(page) == "/desk/second-factor", page.url
    desk.check(page, "second-factor")
    code_step(page, first_code)
    assert path_of(page) == "/desk/second-factor", "a used code was accepted again"
    assert "used already" in alert_text(page), alert_text(page)
    desk.check(page, "second-factor-refused")
    code_step(page, wrong_code(key))
    assert path_of(page) == "/desk/second-factor"
    assert alert_text(page)

    recovery = codes[3]
    code_step(page, recovery)
    assert path_of(page) == "/desk", f"{page.url}: {alert_text(page)}"

    # A recovery code works once.
    log_out(page)
    password_step(page, user)
    code_step(page, recovery)
    assert path_of(page) == "/desk/second-factor", "a used recovery code was accepted again"
    assert alert_text(page)
    desk.assert_clean()


def test_cancel_on_the_second_step_leaves_nobody_logged_in(
    desk: Desk, libcard: LibcardServer
) -> None:
    user = create_staff(libcard, "desk")
    page = desk.anonymous()
    password_step(page, user)
    assert path_of(page) == "/desk/enrol"
    page.goto("/desk")
    assert path_of(page) == "/desk/enrol", "the desk opened before the second factor"
    page.goto("/desk/patrons/1")
    assert path_of(page) != "/desk/patrons/1", "a patron opened before the second factor"


FOCUSED = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    return {tag: e.tagName.toLowerCase(), name: e.getAttribute('name'), type: e.type || null,
            href: e.getAttribute('href'), text: (e.innerText || e.value || '').trim().slice(0, 40)};
}"""


def _what(focus: dict[str, Any] | None) -> str:
    if focus is None:
        return "(nothing)"
    if focus["tag"] in ("input", "select", "textarea") and focus["name"]:
        return str(focus["name"])
    if focus["type"] == "submit":
        return f"submit:{focus['text']}"
    if focus["tag"] == "a":
        return f"a:{focus['href']}"
    return f"{focus['tag']}:{focus['text']}"


def _tab_to(page: Page, wanted: str, limit: int = 40) -> list[str]:
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(_what(page.evaluate(FOCUSED)))
        if seen[-1] == wanted or seen[-1].startswith(wanted):
            return seen
    raise AssertionError(f"Tab never reached {wanted}: {seen}")


def test_staff_log_in_and_scan_a_card_with_the_keyboard_alone(
    desk: Desk, libcard: LibcardServer, admin: Admin
) -> None:
    patron = admin.register("external", first_name="Keld")
    user = create_staff(libcard, "desk")
    page = desk.anonymous()
    page.goto("/desk/login")
    order = _tab_to(page, "submit:")
    assert order.index("username") < order.index("password") < len(order) - 1, order

    page.goto("/desk/login")
    _tab_to(page, "username")
    page.keyboard.type(user.username)
    _tab_to(page, "password")
    page.keyboard.type(user.password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert path_of(page) == "/desk/enrol", f"{page.url}: {alert_text(page)}"

    key = read_key(page)
    _tab_to(page, "code")
    page.keyboard.type(totp_now(key))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    read_recovery_codes(page)
    _tab_to(page, "a:/desk")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert path_of(page) == "/desk", page.url

    # The scan field has the focus: a scanner types the number and presses Enter.
    assert has_focus(page, "card"), f"focus on {page.evaluate(FOCUSED)}"
    with page.expect_navigation():
        page.keyboard.type(patron.ecard)
        page.keyboard.press("Enter")
    assert path_of(page).startswith("/desk/patrons/"), page.url
    assert squash(page.locator("h1").inner_text()) == patron.name
    desk.check(page, "patron-after-keyboard-scan")
    desk.assert_clean()
