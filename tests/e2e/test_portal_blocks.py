"""A fee-blocked patron's /overview (R13, R14b, R17) in Danish from the browser's
Accept-Language, then in German chosen with the footer's language switch: every block with
its title, reason, since when, what it stops and how it lifts, the balance and the fees.
(SQLite only; see conftest.)

The expected Danish and German texts come from two independent places: the block texts from
the JSON API asked in the same language, and the navigation's words from the project's own
Babel catalogues (which tests/unit/test_catalogues.py keeps complete).
"""

from __future__ import annotations

from datetime import datetime

from playwright.sync_api import Page, expect

from tests.e2e.support import (
    Admin,
    Patron,
    Portal,
    catalogue,
    log_in,
    main_nav,
    no_space,
    path_of,
    squash,
    translated,
)

# The navigation the contract names (docs/portal.md), in the templates' English.
NAV = [
    "My card",
    "Overview",
    "My loans",
    "Pay fees",
    "My data",
    "Password",
    "PIN",
    "Report a lost card",
]
LOG_OUT = "Log out"
FEES = [(15000, "Overdue: 'Kongens Fald'"), (10000, "Overdue: 'Hærværk'")]
# 250.00 DKK as Babel writes it for each language (white space aside).
BALANCE = {"da": "250,00 kr.", "de": "250,00 DKK"}
ENGLISH_EFFECTS = ["borrow", "renew", "hold", "digital"]


def _check_overview(page: Page, admin: Admin, patron: Patron, language: str) -> None:
    assert path_of(page) == "/overview", page.url
    assert page.locator("html").get_attribute("lang") == language

    nav = main_nav(page)
    links = [squash(t) for t in nav.locator("a").all_inner_texts()]
    expected = [translated(text, language) for text in NAV]
    assert links == expected, f"navigation in {language}: {links}, expected {expected}"
    for english in NAV:
        if english != "PIN":  # the one word that is the same in all three languages
            assert english not in links, f"English {english!r} left in the {language} navigation"
    log_out = squash(nav.locator("button, [type=submit]").first.inner_text())
    assert log_out == translated(LOG_OUT, language), log_out

    h1 = squash(page.locator("h1").inner_text())
    assert page.locator("h1").count() == 1
    local_texts = {str(m.string) for m in catalogue(language) if m.id and m.string}
    assert h1 in local_texts, f"h1 {h1!r} is no {language} text of the catalogue"

    status = admin.status(patron.ecard, language)
    assert [b["code"] for b in status["blocks"]] == ["fee_threshold"], status["blocks"]
    articles = page.locator("article.block")
    assert articles.count() == len(status["blocks"])
    for article, block in zip(articles.all(), status["blocks"], strict=True):
        heading = squash(article.locator("h1, h2, h3, h4").first.inner_text())
        assert heading == squash(block["title"]), (heading, block["title"])
        reason = squash(article.locator(".block-reason").inner_text())
        assert squash(block["reason"]) in reason, (reason, block["reason"])
        lift = squash(article.locator(".block-lift").inner_text())
        assert squash(block["lift"]) in lift, (lift, block["lift"])
        since = squash(article.locator(".block-since").inner_text())
        year = str(datetime.fromisoformat(block["since"]).year)
        assert year in since, since
        stops = squash(article.locator(".block-stops").inner_text())
        assert stops, "what the block stops is not said"
        for word in ENGLISH_EFFECTS:
            assert word not in stops.lower(), f"English {word!r} in {language} {stops!r}"

    assert no_space(BALANCE[language]) in no_space(page.locator("#balance").inner_text())
    rows = page.locator("table#fees tr:has(td)")
    assert rows.count() == len(FEES)
    table = page.locator("table#fees").inner_text()
    for _, description in FEES:
        assert description in table, description


def test_a_fee_blocked_patron_sees_every_block_in_danish_then_in_german(
    admin: Admin, portal: Portal
) -> None:
    patron = admin.register("external")
    for minor, description in FEES:
        admin.charge(patron, minor, description)

    page = portal.page(locale="da-DK")
    log_in(page, patron.ecard, patron.password)
    page.goto("/overview")
    portal.shot(page, "overview-da")
    _check_overview(page, admin, patron, "da")
    assert "Spærret" in page.locator("article.block").first.inner_text()
    portal.axe(page, "overview (da)")

    with page.expect_navigation():
        page.locator("footer").get_by_role("link", name="Deutsch").click()
    portal.shot(page, "overview-de")
    _check_overview(page, admin, patron, "de")

    # The choice sticks: the next page is German too, and the card warns of the block.
    page.goto("/card")
    assert page.locator("html").get_attribute("lang") == "de"
    expect(page.locator(".banner")).to_be_visible()
    assert squash(main_nav(page).locator("a").first.inner_text()) == translated("My card", "de")
