"""The portal without a mouse and on the narrowest phones: the login form in Tab order with
Enter submitting it, and no page wider than a 320 px screen. (SQLite only; see conftest.)"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.e2e.support import Admin, Portal, log_in, overflow, path_of

FOCUSED = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return null;
    return {tag: e.tagName.toLowerCase(), name: e.getAttribute('name'), type: e.type || null,
            form: e.form ? e.form.getAttribute('action') : null,
            text: (e.innerText || e.value || '').trim().slice(0, 40)};
}"""


def _what(focus: dict[str, Any] | None) -> str:
    if focus is None:
        return "(nothing)"
    if focus["tag"] in ("input", "select", "textarea") and focus["name"]:
        return str(focus["name"])
    if focus["type"] == "submit" and focus["form"] == "/login":
        return "submit"
    return f"{focus['tag']}:{focus['text']}"


def _tab_to(page: Page, wanted: str, limit: int = 30) -> list[str]:
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(_what(page.evaluate(FOCUSED)))
        if seen[-1] == wanted:
            return seen
    raise AssertionError(f"Tab never reached {wanted}: {seen}")


def test_login_works_with_the_keyboard_alone(admin: Admin, portal: Portal) -> None:
    patron = admin.register("external")
    page = portal.page()
    page.goto("/login")
    order = _tab_to(page, "submit")
    assert "login" in order, order
    assert "password" in order, order
    assert order.index("login") < order.index("password") < order.index("submit"), order

    page.goto("/login")
    _tab_to(page, "login")
    page.keyboard.type(patron.ecard)
    _tab_to(page, "password")
    page.keyboard.type(patron.password)
    portal.shot(page, "login-typed")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert path_of(page) == "/card", page.url


def test_no_page_scrolls_sideways_on_a_320_px_screen(admin: Admin, portal: Portal) -> None:
    patron = admin.register("external", physical=True)
    admin.charge(patron, 24000, "Overdue: 'Den store danske encyklopædi, bind 17'")
    narrow = {"width": 320, "height": 640}
    wide: dict[str, dict[str, int]] = {}

    page = portal.page(viewport=narrow)
    for path in ("/login", "/activate", "/forgot-password", "/reset-password/not-a-real-link"):
        page.goto(path)
        portal.shot(page, f"320{path}")
        if (width := overflow(page))["scroll"] > 320:
            wide[path] = width

    log_in(page, patron.ecard, patron.password)
    for path in ("/card", "/overview", "/my-data", "/password", "/pin", "/lost-card"):
        page.goto(path)
        assert path_of(page) == path, page.url
        portal.shot(page, f"320{path}")
        if (width := overflow(page))["scroll"] > 320:
            wide[path] = width
    assert not wide, f"pages wider than 320 px (document.documentElement.scrollWidth): {wide}"
