"""Finding a patron at the desk: a scanner types the card number into the focused scan field
and presses Enter; a mistyped number is refused with the number kept; search by name or by
date of birth; a card reported lost or stolen opens its owner with a warning to keep the
card and check the person's photo ID (R10, R12). (SQLite only; see conftest.)"""

from __future__ import annotations

import random
from datetime import date

from playwright.sync_api import Page, expect

from tests.e2e.desk_support import Desk, has_focus
from tests.e2e.support import Admin, alert_text, path_of, squash


def scan(page: Page, number: str) -> None:
    """What a barcode scanner does: types into the focused field and presses Enter."""
    if not has_focus(page, "card"):
        focused = page.evaluate("() => document.activeElement && document.activeElement.outerHTML")
        raise AssertionError(f"the scan field has no focus (focus on {focused})")
    with page.expect_navigation():
        page.keyboard.type(number)
        page.keyboard.press("Enter")


def _mistyped(number: str) -> str:
    last = (int(number[-1]) + 1) % 10
    return number[:-1] + str(last)


def test_a_scanned_card_opens_its_patron_and_a_misread_number_is_refused(
    desk: Desk, admin: Admin
) -> None:
    patron = admin.register("external", physical=True, first_name="Vibeke")
    assert patron.physical is not None
    page = desk.as_("desk")
    page.goto("/desk")
    desk.check(page, "find")

    scan(page, patron.physical)
    assert path_of(page) == f"/desk/patrons/{patron.id}", page.url
    assert squash(page.locator("h1").inner_text()) == patron.name
    expect(page.locator("#scan-warning")).to_have_count(0)  # an active card: nothing to warn of
    desk.check(page, "patron-scanned")

    page.goto("/desk")
    wrong = _mistyped(patron.physical)
    scan(page, wrong)
    assert path_of(page) == "/desk/find", page.url
    assert "check digit" in alert_text(page), alert_text(page)
    field = page.locator("#card")
    assert field.input_value() == wrong, "the misread number must stay in the field"
    assert field.get_attribute("aria-invalid") == "true"
    desk.check(page, "find-refused")

    # The corrected number, typed into the same field, opens the patron.
    field.fill("")
    field.focus()
    scan(page, patron.ecard)
    assert path_of(page) == f"/desk/patrons/{patron.id}", page.url
    desk.assert_clean()


def test_patrons_are_found_by_name_and_by_date_of_birth(desk: Desk, admin: Admin) -> None:
    family = f"Brøndum-{random.randrange(10**6):06d}"
    born = date(1930 + random.randrange(60), 1 + random.randrange(12), 1 + random.randrange(28))
    first = admin.register(
        "external", first_name="Aksel", last_name=family, birth_date=born.isoformat()
    )
    second = admin.register("external", first_name="Birthe", last_name=family)
    page = desk.as_("desk")
    page.goto("/desk")

    form = page.locator("form[action='/desk/search']")
    form.locator("[name=name]").fill(family)
    with page.expect_navigation():
        form.get_by_role("button", name="Search").click()
    assert path_of(page) == "/desk/search", page.url
    rows = page.locator("table#results tbody tr")
    expect(rows).to_have_count(2)
    table = page.locator("table#results").inner_text()
    assert first.ecard in table, table
    assert second.ecard in table, table
    desk.check(page, "search-by-name")
    with page.expect_navigation():
        page.get_by_role("link", name=f"{family}, Birthe").click()
    assert path_of(page) == f"/desk/patrons/{second.id}", page.url

    page.goto("/desk")
    form = page.locator("form[action='/desk/search']")
    form.locator("[name=birth_date]").fill(born.isoformat())
    with page.expect_navigation():
        form.get_by_role("button", name="Search").click()
    table = page.locator("table#results").inner_text()
    assert first.ecard in table, table
    assert second.ecard not in table, "a patron without that birth date was found"
    assert str(born.year) in table, table

    # An empty search says what to fill in.
    page.goto("/desk/search")
    assert alert_text(page), "an empty search must say what to fill in"
    desk.check(page, "search-empty")
    desk.assert_clean()


def test_a_scanned_lost_or_stolen_card_opens_its_owner_with_a_misuse_warning(
    desk: Desk, admin: Admin
) -> None:
    lost = admin.register("external", physical=True, first_name="Lone")
    stolen = admin.register("external", physical=True, first_name="Svend")
    assert lost.physical is not None
    assert stolen.physical is not None
    admin.call("POST", f"/cards/{lost.physical}/report-lost")
    admin.call("POST", f"/cards/{stolen.physical}/mark-stolen", json={"photo_id_kind": "passport"})
    page = desk.as_("desk")

    for patron, number, word in (
        (lost, lost.physical, "lost"),
        (stolen, stolen.physical, "stolen"),
    ):
        page.goto("/desk")
        scan(page, number)
        assert path_of(page) == f"/desk/patrons/{patron.id}", page.url
        warning = page.locator("#scan-warning")
        expect(warning).to_be_visible()
        assert warning.get_attribute("role") == "alert", "misuse must be announced as an alert"
        text = squash(warning.inner_text())
        assert f"reported {word}" in text, text
        assert "photo ID" in text, text
        card = squash(page.locator(f"#card-{patron.physical_id}").inner_text())
        assert number in card, card
        assert f"State Reported {word}" in card, card
        desk.check(page, f"scanned-{word}")

    # The owner's e-card is still fine: scanning it warns of nothing.
    page.goto("/desk")
    scan(page, lost.ecard)
    expect(page.locator("#scan-warning")).to_have_count(0)
    desk.assert_clean()
