"""What an attacker or a curious patron would try on the portal: a form posted without its
csrf token, another patron's card, telling accounts apart by the login answer, and reading
the session cookie from script. (SQLite only; see conftest.)"""

from __future__ import annotations

from tests.e2e.support import (
    Admin,
    Portal,
    alert_text,
    form_with,
    log_in,
    path_of,
    remove_csrf,
    set_hidden,
    submit,
)

SESSION_COOKIE = "__Host-libcard_session"


def test_a_form_without_its_csrf_token_is_refused(admin: Admin, portal: Portal) -> None:
    patron = admin.register("external")
    page = portal.page()

    page.goto("/login")
    form = form_with(page, "login")
    form.locator("[name=login]").fill(patron.ecard)
    form.locator("[name=password]").fill(patron.password)
    remove_csrf(form)
    response = submit(page, form)
    assert response is not None
    assert response.status == 403, response
    assert "reload" in page.locator("body").inner_text().lower()
    portal.shot(page, "login-without-csrf")
    page.goto("/card")
    assert path_of(page) == "/login", "a login without csrf logged in"

    log_in(page, patron.ecard, patron.password)
    assert path_of(page) == "/card"
    page.goto("/pin")
    form = form_with(page, "pin_repeat")
    form.locator("[name=password]").fill(patron.password)
    form.locator("[name=pin]").fill("7391")
    form.locator("[name=pin_repeat]").fill("7391")
    remove_csrf(form)
    response = submit(page, form)
    assert response is not None
    assert response.status == 403, response

    # A wrong token is no better than none.
    page.goto("/pin")
    form = form_with(page, "pin_repeat")
    form.locator("[name=password]").fill(patron.password)
    form.locator("[name=pin]").fill("7391")
    form.locator("[name=pin_repeat]").fill("7391")
    set_hidden(form, "csrf", "forged-by-another-site")
    response = submit(page, form)
    assert response is not None
    assert response.status == 403, response


def test_one_patrons_session_never_reaches_another_patrons_card(
    admin: Admin, portal: Portal
) -> None:
    alice = admin.register("external", physical=True, first_name="Alice")
    bob = admin.register("external", physical=True, first_name="Bob")
    assert bob.physical is not None
    assert bob.physical_id is not None

    page = portal.page()
    log_in(page, alice.ecard, alice.password)
    for path in ("/card", "/overview", "/my-data", "/lost-card", "/password", "/pin"):
        page.goto(path)
        html = page.content()
        for secret in (bob.last_name, bob.physical, bob.ecard, str(bob.email)):
            assert secret not in html, f"{path} shows Bob's {secret}"

    page.goto("/lost-card")
    form = form_with(page, "card_id")
    set_hidden(form, "card_id", str(bob.physical_id))
    form.locator("[name=confirm]").check()
    response = submit(page, form)
    portal.shot(page, "lost-card-other-patron")
    assert response is not None
    assert response.status >= 400 or alert_text(page), "Bob's card id was accepted"
    assert bob.physical not in page.content()
    assert admin.status(bob.physical)["usable"] is True, "Alice's session blocked Bob's card"


def test_a_wrong_login_tells_nobody_whether_the_account_exists(
    admin: Admin, portal: Portal
) -> None:
    patron = admin.register("external")
    assert patron.email is not None
    page = portal.page()

    unknown = log_in(page, "nobody.here@example.org", patron.password)
    unknown_text = alert_text(page)
    portal.shot(page, "login-unknown")
    wrong = log_in(page, patron.email, "Wrong-Password-Entirely-3")
    wrong_text = alert_text(page)
    assert unknown is not None
    assert wrong is not None
    assert unknown_text, "a refused login must say so in role=alert"
    assert unknown_text == wrong_text
    assert unknown.status == wrong.status
    assert path_of(page) == "/login"


def test_cookies_are_http_only_and_same_site_lax(admin: Admin, portal: Portal) -> None:
    patron = admin.register("external")
    page = portal.page()
    page.goto("/login")
    log_in(page, patron.ecard, patron.password)
    assert path_of(page) == "/card"

    cookies = {c["name"]: c for c in page.context.cookies()}
    assert SESSION_COOKIE in cookies, sorted(cookies)
    for name, cookie in cookies.items():
        if not name.startswith("__Host-"):
            continue
        assert cookie["httpOnly"] is True, cookie
        assert cookie["sameSite"] == "Lax", cookie
        assert cookie["secure"] is True, cookie
        assert cookie["path"] == "/", cookie
    assert page.evaluate("() => document.cookie").find("libcard_session") == -1
