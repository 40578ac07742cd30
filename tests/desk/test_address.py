"""The postal address at the desk (R8): editable only where the group's policy lets the desk own
it; every other personal field is shown with its owner; a forged change is refused."""

from __future__ import annotations

import re
from html import unescape

import httpx

from libcard.patrons.models import Patron
from libcard.patrons.service import get_patron
from tests.conftest import World
from tests.desk.conftest import DeskHarness, audit_events, page_form
from tests.portal.conftest import alert, csrf

ADDRESS = {"street": "Nørregade 10", "postal_code": "1165", "city": "København K", "country": "DK"}


async def _desk_client(desk: DeskHarness, institution_id: int | None = None) -> httpx.AsyncClient:
    """A desk user's browser, in English (the institution's default language is Danish)."""
    client = await desk.logged_in(await desk.staff("desk", institution_id=institution_id))
    client.headers["Accept-Language"] = "en"
    return client


async def _patron(world: World, patron_id: int) -> Patron:
    async with world.runtime.unit(readonly=True) as ctx:
        return await get_patron(ctx, patron_id)


def _owners(html: str) -> dict[str, str]:
    rows = re.findall(r'<tr data-field="(\w+)">.*?data-label="Owner">([^<]*)</td>', html, re.S)
    return dict(rows)


async def test_the_desk_changes_an_external_patrons_address(desk: DeskHarness) -> None:
    patron = await desk.world.patron("external", street="Old Road 1", city="Aarhus")
    user = await desk.staff("desk")
    client = await desk.logged_in(user)
    client.headers["Accept-Language"] = "en"
    view = await client.get(f"/desk/patrons/{patron.id}")
    assert f'href="/desk/patrons/{patron.id}/address"' in view.text
    page = await client.get(f"/desk/patrons/{patron.id}/address")
    assert page.status_code == 200
    form = re.search(
        r'<form method="post" action="[^"]+/address"[^>]*>(.*?)</form>', page.text, re.S
    )
    assert form
    names = re.findall(r'<input id="[^"]+" name="(\w+)"', form.group(1))
    assert names == ["street", "postal_code", "city", "country", "reason"]
    assert 'value="Old Road 1"' in form.group(1)
    # Every other field is read-only here and says who owns it (R8).
    assert _owners(page.text) == {
        "first_name": "The lending desk",
        "last_name": "The lending desk",
        "birth_date": "The lending desk",
        "email": "The patron, in the portal",
        "institutional_email": "The lending desk",
        "phone": "The patron, in the portal",
        "preferred_language": "The patron, in the portal",
    }

    done = await client.post(
        f"/desk/patrons/{patron.id}/address",
        data={**ADDRESS, "reason": "Moved; saw the new lease", "csrf": csrf(page.text)},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/desk/patrons/{patron.id}?done=address"
    stored = await _patron(desk.world, patron.id)
    assert (stored.street, stored.postal_code, stored.city, stored.country) == tuple(
        ADDRESS.values()
    )
    shown = await client.get(done.headers["location"])
    assert "The address is saved." in shown.text
    assert "Nørregade 10<br>1165 København K<br>DK" in shown.text
    [event] = await audit_events(desk.runtime, "patron:update")
    assert event.details["fields"] == ["city", "country", "postal_code", "street"]
    assert event.reason == "Moved; saw the new lease"
    assert (event.actor_id, event.branch_id) == (f"staff:{user.id}", desk.branch_id)


async def test_a_students_address_is_not_editable_and_a_forged_change_is_refused(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron("student", street="Campus 3", city="Odense")
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}/address")
    assert page.status_code == 200
    assert '<form method="post" action="/desk/patrons' not in page.text
    assert "Owner: Student registry" in page.text
    assert "The address comes from the student registry, so the desk cannot change it." in (
        unescape(page.text)
    )
    assert set(_owners(page.text).values()) == {"Student registry", "The patron, in the portal"}

    forged = await client.post(
        f"/desk/patrons/{patron.id}/address",
        data={**ADDRESS, "reason": "", "csrf": csrf(page.text)},
    )
    assert forged.status_code == 403
    assert unescape(alert(forged.text)).startswith(
        "The desk cannot change this address: it comes from another system."
    )
    stored = await _patron(desk.world, patron.id)
    assert (stored.street, stored.city) == ("Campus 3", "Odense")
    assert await audit_events(desk.runtime, "patron:update") == []


async def test_an_employees_address_belongs_to_the_identity_portal(desk: DeskHarness) -> None:
    patron = await desk.world.patron("employee", street="Office 12")
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}/address")
    assert "Owner: Staff identity portal" in page.text
    forged = await page_form(
        client,
        f"/desk/patrons/{patron.id}/address",
        f"/desk/patrons/{patron.id}/address",
        {"street": "Somewhere else 1"},
    )
    assert forged.status_code == 403
    assert (await _patron(desk.world, patron.id)).street == "Office 12"


async def test_a_wrong_country_is_refused_and_the_input_kept(desk: DeskHarness) -> None:
    patron = await desk.world.patron("external", street="Old Road 1")
    client = await _desk_client(desk)
    refused = await page_form(
        client,
        f"/desk/patrons/{patron.id}/address",
        f"/desk/patrons/{patron.id}/address",
        {**ADDRESS, "country": "D1"},
    )
    assert refused.status_code == 422
    assert alert(refused.text) == "A country is a two-letter code, like DK or DE."
    assert 'value="Nørregade 10"' in refused.text
    assert 'value="D1"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert (await _patron(desk.world, patron.id)).street == "Old Road 1"


async def test_only_the_address_is_taken_from_the_form(desk: DeskHarness) -> None:
    patron = await desk.world.patron("external", first_name="Karen", street="Old Road 1")
    client = await _desk_client(desk)
    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}/address",
        f"/desk/patrons/{patron.id}/address",
        {**ADDRESS, "first_name": "Mallory", "email": "mallory@example.org"},
    )
    assert done.status_code == 303
    stored = await _patron(desk.world, patron.id)
    assert (stored.first_name, stored.street) == ("Karen", "Nørregade 10")
    assert stored.email != "mallory@example.org"


async def test_without_the_csrf_token_the_address_stays(desk: DeskHarness) -> None:
    patron = await desk.world.patron("external", street="Old Road 1")
    client = await _desk_client(desk)
    refused = await client.post(f"/desk/patrons/{patron.id}/address", data=ADDRESS)
    assert refused.status_code == 403
    assert (await _patron(desk.world, patron.id)).street == "Old Road 1"


async def test_staff_of_another_institution_get_404(desk: DeskHarness) -> None:
    patron = await desk.world.patron("external", street="Old Road 1")
    other_id, _ = await desk.other_institution()
    stranger = await _desk_client(desk, other_id)
    page = await stranger.get(f"/desk/patrons/{patron.id}/address")
    assert page.status_code == 404
    token = csrf((await stranger.get("/desk")).text)
    refused = await stranger.post(
        f"/desk/patrons/{patron.id}/address", data={**ADDRESS, "csrf": token}
    )
    assert refused.status_code == 404
    assert (await _patron(desk.world, patron.id)).street == "Old Road 1"
