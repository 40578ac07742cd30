"""The desk in Danish, German and English: the footer's language links switch the pages (and
`<html lang>`), the choice sticks from page to page, words and amounts follow the language.
(SQLite only; see conftest.)

The expected Danish and German words come from the project's Babel catalogues, which
tests/unit/test_catalogues.py keeps complete."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.desk_support import Desk
from tests.e2e.support import Admin, no_space, path_of, squash, translated

LANGUAGES = {"da": "Dansk", "de": "Deutsch", "en": "English"}
# 50.00 DKK as Babel writes it for each language (white space aside).
FIFTY = {"da": "50,00 kr.", "de": "50,00 DKK", "en": "DKK 50.00"}


def _switch(page: Page, language: str) -> None:
    before = path_of(page)
    with page.expect_navigation():
        page.locator("footer").get_by_role("link", name=LANGUAGES[language]).click()
    assert path_of(page) == before, f"the switch must stay on {before}, went to {page.url}"
    assert page.locator("html").get_attribute("lang") == language
    current = page.locator("footer a[aria-current]")
    assert squash(current.inner_text()) == LANGUAGES[language]


def test_the_footer_switches_the_desk_between_danish_german_and_english(
    desk: Desk, admin: Admin
) -> None:
    patron = admin.register("external", first_name="Sørine")
    admin.charge(patron, 5000, "Overdue: 'Sprog og sprogbrug'")
    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{patron.id}")
    assert page.locator("html").get_attribute("lang") == "en"

    for language in ("da", "de", "en"):
        _switch(page, language)
        desk.check(page, f"patron-{language}")
        logout = squash(page.locator("header form[action='/desk/logout'] button").inner_text())
        heading = squash(page.locator("#blocks-title").inner_text())
        fees = squash(page.locator("#fees-title").inner_text())
        if language == "en":
            assert (logout, heading, fees) == ("Log out", "Blocks", "Fees")
        else:
            assert logout == translated("Log out", language), logout
            assert heading == translated("Blocks", language), heading
            assert fees == translated("Fees", language), fees
        assert no_space(FIFTY[language]) in no_space(page.locator("#balance").inner_text())

        # The choice sticks on the next page.
        page.goto("/desk")
        assert page.locator("html").get_attribute("lang") == language
        page.goto(f"/desk/patrons/{patron.id}")

    # Before login too: the login page switches, and the choice lasts into the desk.
    anonymous = desk.anonymous()
    anonymous.goto("/desk/login")
    _switch(anonymous, "de")
    desk.check(anonymous, "login-de")
    assert squash(anonymous.locator("main button[type=submit]").inner_text()), "no button text"
    desk.assert_clean()


def test_the_desks_own_words_are_danish_and_german(desk: Desk) -> None:
    page = desk.as_("desk")
    page.goto("/desk")
    for language in ("da", "de"):
        _switch(page, language)
        h1 = squash(page.locator("h1").inner_text())
        assert h1 == translated("Find a patron", language), h1
        nav = [squash(t) for t in page.locator("header nav a").all_inner_texts()]
        for english in ("Find a patron", "New patron", "My user"):
            assert translated(english, language) in nav, (language, nav)
            assert english not in nav, f"English {english!r} left in the {language} navigation"
        brand = squash(page.locator("header .brand").inner_text())
        assert translated("Lending desk", language) in brand, brand
        scan = squash(page.locator("#scan-title").inner_text())
        assert scan == translated("Scan a card", language), scan
    desk.check(page, "home-de")
    desk.assert_clean()
