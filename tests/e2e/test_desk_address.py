"""The postal address at the desk (R8): the desk changes an external patron's address, with a
reason kept in the history; a student's address belongs to the student registry, so the desk
sees it read-only with its owner named, and a forged form is refused. (SQLite only.)"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.desk_support import Desk, forge_post, notice_text
from tests.e2e.support import Admin, path_of, squash, submit

NEW_ADDRESS = {
    "street": "Åboulevarden 12, 3. th.",
    "postal_code": "8000",
    "city": "Aarhus C",
    "country": "DK",
}
REASON = "Moved; saw the new address on the health insurance card"


def test_the_desk_changes_an_external_patrons_address(desk: Desk, admin: Admin) -> None:
    patron = admin.register(
        "external", street="Gammel Vej 1", postal_code="9999", city="Nordby", country="DK"
    )
    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{patron.id}")
    with page.expect_navigation():
        page.get_by_role("link", name="Address and personal data").click()
    assert path_of(page) == f"/desk/patrons/{patron.id}/address", page.url
    desk.check(page, "address-external")

    form = page.locator(f"form[action='/desk/patrons/{patron.id}/address']")
    assert form.locator("[name=street]").input_value() == "Gammel Vej 1"
    for name, value in NEW_ADDRESS.items():
        form.locator(f"[name={name}]").fill(value)
    form.locator("[name=reason]").fill(REASON)
    submit(page, form)
    assert path_of(page) == f"/desk/patrons/{patron.id}", page.url
    assert "address is saved" in notice_text(page), notice_text(page)
    person = squash(page.locator("section:has(#person-title)").inner_text())
    assert "Åboulevarden 12, 3. th. 8000 Aarhus C" in person, person

    stored = admin.patron(patron)
    assert {k: stored[k] for k in NEW_ADDRESS} == NEW_ADDRESS, stored
    events = squash(page.locator("table#events").inner_text())
    assert "Personal data changed" in events, events
    assert REASON in events, events
    desk.assert_clean()


def test_a_students_address_is_read_only_with_its_owner_named(desk: Desk, admin: Admin) -> None:
    student = admin.register(
        "student", street="Kollegievej 4", postal_code="9999", city="Nordby", country="DK"
    )
    page = desk.as_("desk")
    page.goto(f"/desk/patrons/{student.id}/address")
    desk.check(page, "address-student")
    expect(page.locator(f"form[action='/desk/patrons/{student.id}/address']")).to_have_count(0)
    expect(page.locator("main input[name=street]")).to_have_count(0)
    section = squash(page.locator("section:has(#address-title)").inner_text())
    assert "Kollegievej 4" in section, section
    assert "Owner: Student registry" in section, section
    assert "student registry" in section.lower(), section

    # A hand-made form (the session's own CSRF token) is refused, and nothing changes.
    answer = forge_post(
        page,
        f"/desk/patrons/{student.id}/address",
        {"street": "Forged Street 9", "reason": "forged"},
    )
    assert answer.status == 403, (answer.status, answer.text()[:300])
    assert "cannot change this address" in answer.text()
    assert admin.patron(student)["street"] == "Kollegievej 4"
    desk.assert_clean()
