"""Lifting a PIN lockout at the desk (R6): only after ticking that a valid photo ID was checked
and naming its kind; who lifted it, where, the ID's kind and the note are recorded."""

from __future__ import annotations

import re

import httpx

from libcard.blocks.service import blocks_of
from libcard.cards.pin import PinCheck, verify_pin
from libcard.context import ActorKind
from libcard.policy.rules import BlockCode
from tests.conftest import PatronHandle, World
from tests.desk.conftest import DeskHarness, audit_events, page_form
from tests.portal.conftest import alert, csrf, main_part

WRONG = "9137"


async def _desk_client(desk: DeskHarness, institution_id: int | None = None) -> httpx.AsyncClient:
    """A desk user's browser, in English (the institution's default language is Danish)."""
    client = await desk.logged_in(await desk.staff("desk", institution_id=institution_id))
    client.headers["Accept-Language"] = "en"
    return client


async def _verify(world: World, number: str, pin: str) -> PinCheck:
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        return await verify_pin(ctx, number, pin)


async def _locked_patron(world: World) -> PatronHandle:
    """A patron whose PIN was given wrongly at a self-checkout machine until the limit (3)."""
    patron = await world.patron()
    for _ in range(3):
        await _verify(world, patron.ecard, WRONG)
    assert await _locked(world, patron)
    return patron


async def _locked(world: World, patron: PatronHandle) -> bool:
    async with world.runtime.unit(readonly=True) as ctx:
        blocks, _ = await blocks_of(ctx, patron.id)
    return any(block.code is BlockCode.PIN_LOCKED for block in blocks)


def _unlock_form(html: str) -> str:
    found = re.search(
        r'<form method="post" action="/desk/patrons/\d+/pin-unlock">(.*?)</form>', html, re.S
    )
    return found.group(1) if found else ""


async def test_a_locked_account_offers_the_unlock_form(desk: DeskHarness) -> None:
    patron = await _locked_patron(desk.world)
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert "Blocked after too many wrong PINs" in page.text
    assert "The PIN was entered wrongly 3 times in a row." in page.text
    form = _unlock_form(page.text)
    assert re.search(
        r'type="checkbox" id="unlock-confirm" name="photo_id_checked" value="yes" required', form
    )
    assert '<label for="unlock-confirm">I have checked a valid photo ID</label>' in form
    assert re.search(r'<select id="unlock-photo-id" name="photo_id_kind" required>', form)
    kinds = re.findall(r'<option value="(\w+)">', form)
    assert kinds == [
        "passport",
        "national_id_card",
        "driving_licence",
        "residence_permit",
        "student_id_card",
    ]
    assert 'name="note"' in form


async def test_an_account_that_is_not_locked_has_no_unlock_form(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    await _verify(desk.world, patron.ecard, WRONG)  # one wrong PIN is no lockout
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert _unlock_form(page.text) == ""
    refused = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/patrons/{patron.id}/pin-unlock",
        {"photo_id_checked": "yes", "photo_id_kind": "passport"},
    )
    assert refused.status_code == 409
    assert alert(refused.text) == "The PIN is not locked (any more). Nothing was changed."
    assert await audit_events(desk.runtime, "pin:unlock") == []


async def test_without_the_tick_the_lockout_stays(desk: DeskHarness) -> None:
    patron = await _locked_patron(desk.world)
    client = await _desk_client(desk)
    refused = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/patrons/{patron.id}/pin-unlock",
        {"photo_id_kind": "passport", "note": "Forgot to look"},
    )
    assert refused.status_code == 422
    assert alert(refused.text) == (
        "Tick the box once you have checked a valid photo ID. Nothing was changed."
    )
    # The form is open again with what was chosen, the tick marked as what is missing.
    form = _unlock_form(refused.text)
    assert re.search(r'<details class="action" id="pin-unlock" open>', refused.text)
    assert re.search(r'name="photo_id_checked" value="yes" required aria-invalid="true"', form)
    assert '<option value="passport" selected>' in form
    assert 'value="Forgot to look"' in form
    assert await _locked(desk.world, patron)
    assert await audit_events(desk.runtime, "pin:unlock") == []
    check = await _verify(desk.world, patron.ecard, patron.pin)
    assert (check.valid, check.locked) == (False, True)


async def test_the_kind_of_photo_id_is_required(desk: DeskHarness) -> None:
    patron = await _locked_patron(desk.world)
    client = await _desk_client(desk)
    for kind in ("", "library_card"):
        refused = await page_form(
            client,
            f"/desk/patrons/{patron.id}",
            f"/desk/patrons/{patron.id}/pin-unlock",
            {"photo_id_checked": "yes", "photo_id_kind": kind},
        )
        assert refused.status_code == 422
        assert alert(refused.text) == "Choose which kind of photo ID you checked."
    assert await _locked(desk.world, patron)


async def test_with_the_tick_and_the_id_kind_the_lockout_is_lifted_and_recorded(
    desk: DeskHarness,
) -> None:
    patron = await _locked_patron(desk.world)
    user = await desk.staff("desk")
    client = await desk.logged_in(user)
    client.headers["Accept-Language"] = "en"
    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/patrons/{patron.id}/pin-unlock",
        {
            "photo_id_checked": "yes",
            "photo_id_kind": "driving_licence",
            "note": "Forgot PIN, chose a new one later",
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/desk/patrons/{patron.id}?done=unlocked"
    page = await client.get(done.headers["location"])
    assert "The PIN lockout is lifted. The patron can use their PIN again." in page.text
    assert "Blocked after too many wrong PINs" not in page.text
    assert not await _locked(desk.world, patron)
    assert (await _verify(desk.world, patron.ecard, patron.pin)).valid

    [event] = await audit_events(desk.runtime, "pin:unlock")
    assert event.patron_id == patron.id
    assert event.actor_id == f"staff:{user.id}"
    assert event.actor_kind == "desk"
    assert event.branch_id == desk.branch_id
    assert event.reason == "Forgot PIN, chose a new one later"
    assert event.details["photo_id_kind"] == "driving_licence"
    # The history on the page says the same.
    history = main_part(page.text).split('id="history"')[1]
    assert "PIN lockout lifted" in history
    assert "Main Library" in history
    assert "Photo ID: Driving licence" in history


async def test_without_the_csrf_token_nothing_changes(desk: DeskHarness) -> None:
    patron = await _locked_patron(desk.world)
    client = await _desk_client(desk)
    refused = await client.post(
        f"/desk/patrons/{patron.id}/pin-unlock",
        data={"photo_id_checked": "yes", "photo_id_kind": "passport"},
    )
    assert refused.status_code == 403
    assert await _locked(desk.world, patron)
    assert await audit_events(desk.runtime, "pin:unlock") == []


async def test_staff_of_another_institution_cannot_unlock(desk: DeskHarness) -> None:
    patron = await _locked_patron(desk.world)
    other_id, _ = await desk.other_institution()
    stranger = await _desk_client(desk, other_id)
    home = await stranger.get("/desk")
    refused = await stranger.post(
        f"/desk/patrons/{patron.id}/pin-unlock",
        data={
            "photo_id_checked": "yes",
            "photo_id_kind": "passport",
            "csrf": csrf(home.text),
        },
    )
    assert refused.status_code == 404
    assert await _locked(desk.world, patron)
    assert await audit_events(desk.runtime, "pin:unlock") == []
