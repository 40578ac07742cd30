"""My data (R8, R9): a patron edits the fields they own and sees, for the others, who owns
them and where to change them; the page refuses a field the patron does not own even when
it is posted by hand with a valid csrf token. (SQLite only; see conftest.)"""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.e2e.support import (
    Admin,
    Portal,
    alert_text,
    form_with,
    log_in,
    set_hidden,
    squash,
    submit,
)

ADDRESS = ["street", "postal_code", "city", "country"]


def _editable(page: Page, name: str) -> Locator:
    return page.locator(
        f"input[name={name}]:not([type=hidden]):not([readonly]):not([disabled]),"
        f" textarea[name={name}]:not([readonly]):not([disabled]),"
        f" select[name={name}]:not([disabled])"
    )


def _address_owner(page: Page) -> str:
    """The `.owner` text for the address: on its `div.field` (street) or on the element that
    holds the address as one field (data-field="address")."""
    owner = page.locator(
        ".field[data-field=street] .owner, [data-field=address] .owner,"
        " .field[data-field=street] ~ .owner"
    )
    assert owner.count() >= 1, "the address has no .owner saying who owns it"
    return squash(owner.first.inner_text())


def test_a_student_cannot_change_the_address_the_registry_owns(
    admin: Admin, portal: Portal
) -> None:
    student = admin.register(
        "student", street="Studiestræde 6", postal_code="1455", city="København K", country="DK"
    )
    page = portal.page()
    log_in(page, student.ecard, student.password)
    page.goto("/my-data")
    portal.shot(page, "my-data-student")

    expect(page.locator(".field[data-field=street]")).to_have_count(1)
    assert "Studiestræde 6" in page.locator(".field[data-field=street]").inner_text()
    for name in ADDRESS:
        assert _editable(page, name).count() == 0, f"a student can edit {name}"
    assert "registry" in _address_owner(page).lower(), _address_owner(page)


def test_an_external_changes_the_email_but_not_the_address(admin: Admin, portal: Portal) -> None:
    patron = admin.register(
        "external", street="Bibliotekvej 1", postal_code="8000", city="Aarhus", country="DK"
    )
    page = portal.page()
    log_in(page, patron.ecard, patron.password)
    page.goto("/my-data")
    portal.shot(page, "my-data-external")

    for name in ADDRESS:
        assert _editable(page, name).count() == 0, f"an external can edit {name}"
    assert "Bibliotekvej 1" in page.locator(".field[data-field=street]").inner_text()
    assert "desk" in _address_owner(page).lower(), _address_owner(page)

    new_email = f"new.{patron.email}"
    email = _editable(page, "email")
    expect(email).to_have_count(1)
    email.fill(new_email)
    submit(page, form_with(page, "email"))
    assert not alert_text(page), alert_text(page)
    portal.shot(page, "my-data-saved")
    page.reload()
    expect(_editable(page, "email")).to_have_value(new_email)
    assert admin.patron(patron)["email"] == new_email

    # By hand: the same form, with its valid csrf token, carrying an address field.
    form = form_with(page, "email")
    assert form.locator("[name=csrf]").count() == 1
    set_hidden(form, "street", "Forged Street 13")
    submit(page, form)
    portal.shot(page, "my-data-forged")
    assert alert_text(page), "posting a field the patron does not own must be refused"
    stored = admin.patron(patron)
    assert stored["street"] == "Bibliotekvej 1", stored
    assert stored["email"] == new_email, stored
    page.goto("/my-data")
    assert "Forged Street" not in page.content()
