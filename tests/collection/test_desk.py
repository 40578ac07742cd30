"""The desk's side of collection: a patron's cases, the printable notice letter, recalling a
case (CSRF, a reason, the block lifts), and the collection settings of the institution."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import httpx
import pytest
from fastapi.routing import APIRoute

from libcard.policy.models import Institution
from libcard.policy.rules import BlockCode
from libcard.web.desk import collection_routes
from tests.collection.conftest import AGENCY, Collection
from tests.desk.conftest import DeskHarness, audit_events
from tests.desk.test_admin_policy import form_values, signed_in, submit
from tests.portal.conftest import csrf


@pytest.fixture
def pages(desk: DeskHarness) -> DeskHarness:
    """The desk with the collection pages, whether or not the desk's router lists them yet."""
    paths = {route.path for route in desk.app.routes if isinstance(route, APIRoute)}
    if "/desk/patrons/{patron_id}/collection" not in paths:
        desk.app.include_router(collection_routes.router)
    return desk


async def _staff(desk: DeskHarness, role: str = "desk", **kw: object) -> httpx.AsyncClient:
    return await signed_in(desk, await desk.staff(role, **kw))  # type: ignore[arg-type]


async def test_the_desk_sees_the_case_and_prints_the_letter(
    pages: DeskHarness, collection: Collection
) -> None:
    patron = await collection.patron(15000, street="Algade 1", postal_code="4000", city="Roskilde")
    pages.clock.advance(timedelta(days=30))
    await collection.notices()
    [case] = await collection.cases(patron.id)
    client = await _staff(pages)
    page = await client.get(f"/desk/patrons/{patron.id}/collection")
    assert page.status_code == 200, page.text
    text = unescape(page.text)
    assert "Notice sent" in text
    assert AGENCY in text
    assert "150.00" in text
    letter = await client.get(f"/desk/patrons/{patron.id}/collection/{case.id}/letter")
    assert letter.status_code == 200, letter.text
    body = unescape(letter.text)
    # The letter is in the patron's language (the library's: Danish), the page around in English.
    assert 'id="collection-letter"' in body
    assert "150,00" in body
    assert "11. februar 2026" in body
    assert "Algade 1" in body
    assert "/pay" in body
    assert AGENCY in body
    assert "Print this letter" in body


async def test_staff_recall_a_case_with_a_reason_and_the_block_lifts(
    pages: DeskHarness, collection: Collection
) -> None:
    patron, case_id = await collection.handed_over()
    assert await collection.codes(patron.id) == [BlockCode.IN_COLLECTION]
    client = await _staff(pages)
    page_path = f"/desk/patrons/{patron.id}/collection"
    action = f"{page_path}/{case_id}/recall"
    page = await client.get(page_path)
    assert "Recall this case" in page.text
    forged = await client.post(action, data={"reason": "Disputed", "csrf": "forged"})
    assert forged.status_code == 403
    empty = await client.post(action, data={"reason": "  ", "csrf": csrf(page.text)})
    assert empty.status_code == 422
    assert "Give the reason for the recall" in unescape(empty.text)
    assert [c.state for c in await collection.cases(patron.id)] == ["handed_over"]

    done = await client.post(action, data={"reason": "Disputed fine", "csrf": csrf(page.text)})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{page_path}?done=recalled"
    assert [c.state for c in await collection.cases(patron.id)] == ["recalled"]
    assert await collection.codes(patron.id) == []
    [event] = await audit_events(pages.runtime, "collection:recall")
    assert event.reason == "Disputed fine"
    after = await client.get(page_path)
    assert "Recall this case" not in after.text
    again = await client.post(action, data={"reason": "Again", "csrf": csrf(page.text)})
    assert again.status_code == 409


async def test_another_institutions_staff_see_nothing(
    pages: DeskHarness, collection: Collection
) -> None:
    patron, case_id = await collection.handed_over()
    other_id, _ = await pages.other_institution()
    client = await _staff(pages, institution_id=other_id)
    assert (await client.get(f"/desk/patrons/{patron.id}/collection")).status_code == 404
    letter = await client.get(f"/desk/patrons/{patron.id}/collection/{case_id}/letter")
    assert letter.status_code == 404
    own = await _staff(pages)
    stranger = await pages.world.patron()
    # A case id under another patron's path is no case of theirs.
    wrong = await own.get(f"/desk/patrons/{stranger.id}/collection/{case_id}/letter")
    assert wrong.status_code == 404
    assert "No collection cases." in (await own.get(f"/desk/patrons/{stranger.id}/collection")).text


async def test_the_administrator_sets_the_collection_settings(pages: DeskHarness) -> None:
    client = await _staff(pages, "admin")
    path = "/desk/admin/institution"
    saved = await submit(
        client,
        path,
        path,
        {
            "collection_agency": "  Nordic   Collect ",
            "collection_min_debt": "250,00",
            "collection_min_age_days": "45",
            "collection_notice_days": "10",
            "payment_login": "none",
        },
    )
    assert saved.headers["location"] == f"{path}?done=saved", saved.text
    async with pages.runtime.unit(readonly=True) as ctx:
        institution = await ctx.session.get(Institution, pages.world.institution_id)
        assert institution is not None
        assert (
            institution.collection_agency,
            institution.collection_min_debt_minor,
            institution.collection_min_age_days,
            institution.collection_notice_days,
            institution.payment_login,
        ) == ("Nordic Collect", 25000, 45, 10, "none")
    shown = form_values((await client.get(path)).text, path)
    assert (shown["collection_agency"], shown["collection_min_debt"]) == (
        "Nordic Collect",
        "250.00",
    )

    refused = await submit(client, path, path, {"collection_notice_days": "0"})
    assert refused.status_code == 422
    assert 'id="collection_notice_days"' in refused.text
    off = await submit(client, path, path, {"collection_agency": ""})
    assert off.status_code == 303
    async with pages.runtime.unit(readonly=True) as ctx:
        institution = await ctx.session.get(Institution, pages.world.institution_id)
        assert institution is not None
        assert institution.collection_agency is None
