"""My data (R8, R9): every field is shown; the patron edits only the fields their group lets
them own, and every other field says who owns it and where it is changed."""

from __future__ import annotations

import re

import httpx

from libcard.kit.i18n import translate
from tests.portal.conftest import PASSWORD, Portal, alert, csrf, login, patron_row

REGISTRY_TEXT = (
    "Comes from the student registry. To change it, contact the university service centre."
)
IDENTITY_TEXT = "Comes from the staff identity portal. Change it there, or ask your HR department."
DESK_TEXT = "Changed only at the lending desk. Bring a photo ID."
NOT_YOURS = "You cannot change this field here."


def _controls(html: str) -> set[str]:
    """The names of the form controls a patron can fill in (not the hidden csrf field)."""
    names = set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', html))
    return names - {"csrf"}


def _field(html: str, group: str) -> str:
    """The fieldset of one group of fields (data-field="<group>")."""
    found = re.search(
        rf'<fieldset class="field-group" data-field="{group}">(.*?)</fieldset>', html, re.S
    )
    assert found, group
    return found.group(1)


async def _save(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get("/my-data")
    assert page.status_code == 200
    return await client.post("/my-data", data={**fields, "csrf": csrf(page.text)})


async def test_an_external_patron_changes_e_mail_and_phone(portal: Portal) -> None:
    patron = await portal.patron(email="before@example.org", phone="+45 10 10 10 10")
    client = await portal.logged_in(patron)
    page = await client.get("/my-data")
    assert {"email", "phone", "preferred_language"} <= _controls(page.text)
    response = await _save(client, email="After@Example.org", phone="+45 20 20 20 20")
    assert response.status_code == 303
    assert response.headers["location"] == "/my-data?saved=1"
    row = await patron_row(portal.runtime, patron.id)
    assert (row.email, row.phone) == ("after@example.org", "+45 20 20 20 20")
    shown = await client.get("/my-data?saved=1")
    assert translate("da", "Your changes are saved.") in shown.text
    assert 'value="after@example.org"' in shown.text
    assert 'value="+45 20 20 20 20"' in shown.text


async def test_the_new_e_mail_is_the_one_to_log_in_with(portal: Portal) -> None:
    patron = await portal.patron(email="old-address@example.org")
    client = await portal.logged_in(patron)
    assert (await _save(client, email="new-address@example.org")).status_code == 303
    assert (
        await login(await portal.browser(), "new-address@example.org", PASSWORD)
    ).status_code == 303
    assert (
        await login(await portal.browser(), "old-address@example.org", PASSWORD)
    ).status_code != 303


async def test_the_address_belongs_to_the_desk_and_cannot_be_changed_here(portal: Portal) -> None:
    patron = await portal.patron(email="stays@example.org", street="Nørregade 1", city="Nordby")
    client = await portal.logged_in(patron)
    page = await client.get("/my-data")
    address = _field(page.text, "address")
    assert "Nørregade 1" in address
    assert "<input" not in address
    assert translate("da", DESK_TEXT) in address
    assert "street" not in _controls(page.text)
    # A form made by hand that sends the street anyway: refused whole, nothing changes.
    response = await _save(client, street="Elsewhere 99", email="changed@example.org")
    assert response.status_code == 403
    assert alert(response.text) == translate("da", NOT_YOURS)
    row = await patron_row(portal.runtime, patron.id)
    assert (row.street, row.email) == ("Nørregade 1", "stays@example.org")


async def test_a_student_sees_everything_read_only_with_the_registry_named(portal: Portal) -> None:
    patron = await portal.patron(
        "student", first_name="Sara", last_name="Studer", institutional_email="sara@uni.example"
    )
    client = await portal.logged_in(patron)
    page = await client.get("/my-data")
    assert page.status_code == 200
    assert "Studer" in page.text
    assert "sara@uni.example" in page.text
    # The language of pages and mail is always the patron's own (architecture: field
    # ownership); every personal field is read-only.
    assert _controls(page.text) <= {"preferred_language"}
    assert "<input" not in page.text.replace('<input type="hidden" name="csrf"', "")
    for group in ("name", "birth_date", "address", "email", "institutional_email", "phone"):
        assert translate("da", REGISTRY_TEXT) in _field(page.text, group), group
    response = await _save(client, email="private@example.org")
    assert response.status_code == 403
    assert alert(response.text) == translate("da", NOT_YOURS)
    assert (await patron_row(portal.runtime, patron.id)).email is None


async def test_an_employee_is_sent_to_the_identity_portal(portal: Portal) -> None:
    patron = await portal.patron("employee", first_name="Erik", last_name="Ansat")
    client = await portal.logged_in(patron)
    page = await client.get("/my-data")
    assert _controls(page.text) <= {"preferred_language"}
    for group in ("name", "address", "email", "phone"):
        assert translate("da", IDENTITY_TEXT) in _field(page.text, group), group
    assert translate("da", REGISTRY_TEXT) not in page.text


async def test_a_patron_sets_the_language_of_pages_and_mail(portal: Portal) -> None:
    patron = await portal.patron("student")
    client = await portal.logged_in(patron)
    assert (await _save(client, preferred_language="de")).status_code == 303
    assert (await patron_row(portal.runtime, patron.id)).preferred_language == "de"
    assert '<html lang="de">' in (await client.get("/my-data")).text


async def test_an_invalid_e_mail_is_refused_and_shown_again(portal: Portal) -> None:
    patron = await portal.patron(email="valid@example.org")
    client = await portal.logged_in(patron)
    response = await _save(client, email="not an address")
    assert response.status_code == 422
    assert alert(response.text) == translate("da", "This is not an e-mail address.")
    assert 'value="not an address"' in response.text
    assert (await patron_row(portal.runtime, patron.id)).email == "valid@example.org"


async def test_the_refused_e_mail_field_is_marked_for_assistive_technology(
    portal: Portal,
) -> None:
    patron = await portal.patron(email="marked@example.org")
    client = await portal.logged_in(patron)
    response = await _save(client, email="not an address")
    email = _field(response.text, "email")
    assert 'aria-invalid="true"' in email
    assert 'aria-describedby="form-error"' in email


async def test_an_e_mail_of_another_account_is_refused(portal: Portal) -> None:
    await portal.patron(email="taken@example.org")
    patron = await portal.patron(email="mine@example.org")
    client = await portal.logged_in(patron)
    response = await _save(client, email="taken@example.org")
    assert response.status_code == 409
    assert alert(response.text) == translate(
        "da", "Another account of this library uses this e-mail."
    )
    assert (await patron_row(portal.runtime, patron.id)).email == "mine@example.org"
