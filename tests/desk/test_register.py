"""Registering a new patron at the desk (R1–R3) and the printed activation letter: the patron
gets an e-card, the letter carries a one-time code in the patron's language, and the code
activates the account; a new letter stops the old code from working."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest

from libcard.cards.activation import activate
from libcard.cards.rules import CardKind, CardState
from libcard.cards.service import cards_of, state_now
from libcard.context import SYSTEM_ACTOR
from libcard.errors import WrongSecret
from libcard.kit.i18n import day
from libcard.patrons.models import Patron
from libcard.patrons.service import search_patrons
from libcard.policy.service import create_group
from tests.desk.conftest import DeskHarness, audit_events
from tests.desk.test_payments import clerk
from tests.portal.conftest import alert, csrf, html_lang

IDA = {
    "first_name": "Ida",
    "last_name": "Bergström",
    "birth_date": "1990-04-12",
    "email": "ida.berg@example.org",
    "phone": "+45 12 34 56 78",
    "street": "Nørregade 3",
    "postal_code": "1165",
    "city": "København K",
    "country": "dk",
    "preferred_language": "en",
    "note": "Passport seen",
}


async def register(
    client: httpx.AsyncClient, **changes: str
) -> tuple[httpx.Response, dict[str, str]]:
    page = await client.get("/desk/register")
    assert page.status_code == 200, page.text
    data = {**IDA, "group": "external", **changes}
    answer = await client.post("/desk/register", data={**data, "csrf": csrf(page.text)})
    return answer, data


def letter_code(page: str) -> str:
    found = re.search(r'id="activation-code">([^<]+)<', page)
    assert found, page
    return found.group(1)


def letter_card(page: str) -> str:
    found = re.search(r'id="letter-card">([^<]+)<', page)
    assert found, page
    return found.group(1)


async def patrons_named(desk: DeskHarness, name: str) -> list[Patron]:
    async with desk.runtime.unit(readonly=True) as ctx:
        return await search_patrons(ctx, desk.world.institution_id, name=name)


async def activate_with(desk: DeskHarness, card: str, code: str) -> Patron:
    async with desk.runtime.unit(SYSTEM_ACTOR) as ctx:
        return await activate(ctx, card, code, "Harbour-Lantern-Quiet-9", "2580")


async def test_registration_gives_an_ecard_and_a_letter_whose_code_activates_the_account(
    desk: DeskHarness,
) -> None:
    client, user = await clerk(desk)
    answer, _ = await register(client)
    assert answer.status_code == 200, answer.text
    page = answer.text
    [patron] = await patrons_named(desk, "Ida Bergström")
    assert (patron.email, patron.street, patron.country) == (
        "ida.berg@example.org",
        "Nørregade 3",
        "DK",
    )
    assert patron.group_id == desk.world.groups["external"]
    assert str(patron.birth_date) == "1990-04-12"
    assert patron.activated_at is None
    async with desk.runtime.unit(readonly=True) as ctx:
        [ecard] = await cards_of(ctx, patron.id)
        assert (ecard.kind, state_now(ctx, ecard)) == (CardKind.ECARD, CardState.NOT_ACTIVATED)
    # The letter: who, where, the card, the code and how long it is valid, the steps.
    assert '<article class="paper letter" lang="en"' in page
    assert "Nordby Library" in page
    assert "Ida Bergström" in page
    assert "Nørregade 3" in page
    assert "1165 København K" in page
    assert letter_card(page) == ecard.number
    code = letter_code(page)
    assert re.fullmatch(r"[A-Z2-9]{10}", code)
    valid_until = day(desk.clock.now() + timedelta(days=30), "en", "Europe/Copenhagen")
    assert f"until {valid_until}" in page
    assert "http://127.0.0.1:8000/activate" in page
    assert "choose a password" in page.lower()
    assert "PIN" in page
    assert f'href="/desk/patrons/{patron.id}"' in page
    assert "The activation code is shown only now." in page
    # Audited as the staff member at their branch, with the note as the reason.
    [created] = await audit_events(desk.runtime, "patron:create")
    assert (created.actor_id, created.branch_id, created.reason) == (
        f"staff:{user.id}",
        desk.branch_id,
        "Passport seen",
    )
    [issued] = await audit_events(desk.runtime, "activation:issue_code")
    assert issued.details["channel"] == "letter"
    # The code on the letter activates the account (R1, R2).
    activated = await activate_with(desk, letter_card(page), code)
    assert activated.id == patron.id
    assert activated.activated_at is not None


async def test_the_letter_is_written_in_the_patrons_language(desk: DeskHarness) -> None:
    client, _ = await clerk(desk)
    answer, _ = await register(client, preferred_language="de", country="DE")
    assert answer.status_code == 200
    page = answer.text
    assert html_lang(page) == "en"  # the desk page is the staff member's
    assert '<article class="paper letter" lang="de"' in page
    letter = page[page.index("<article") : page.index("</article>")]
    assert "5. Januar 2026" in letter  # the date of the letter, in German
    assert "4. Februar 2026" in letter  # valid for 30 days
    assert "Deutschland" in letter
    assert "The activation code is shown only now." in page


async def test_a_broken_registration_keeps_the_values_and_stores_nothing(
    desk: DeskHarness,
) -> None:
    client, _ = await clerk(desk)
    bad_mail, _ = await register(client, email="ida.berg@")
    assert bad_mail.status_code == 422
    assert alert(bad_mail.text) == (
        "This is not an e-mail address. Correct it, or leave the field empty."
    )
    for name, value in IDA.items():
        if name not in ("preferred_language", "country"):
            shown = "ida.berg@" if name == "email" else value
            assert f'name="{name}" ' in bad_mail.text
            assert f'value="{html.escape(shown)}"' in bad_mail.text, name
    assert 'value="DK"' in bad_mail.text
    assert re.search(r'id="email"[^>]*aria-invalid="true"', bad_mail.text)
    no_birth, _ = await register(client, birth_date="")
    assert no_birth.status_code == 422
    assert alert(no_birth.text) == "Fill in every field that is not marked optional."
    assert re.search(r'id="birth_date"[^>]*aria-invalid="true"', no_birth.text)
    odd_birth, _ = await register(client, birth_date="12.04.1990")
    assert alert(odd_birth.text) == "Write the date of birth as YYYY-MM-DD."
    assert await patrons_named(desk, "Bergström") == []
    assert await audit_events(desk.runtime, "patron:create") == []
    assert await audit_events(desk.runtime, "activation:issue_code") == []


async def test_an_e_mail_in_use_is_refused(desk: DeskHarness) -> None:
    await desk.world.patron(email="ida.berg@example.org")
    client, _ = await clerk(desk)
    answer, _ = await register(client)
    assert answer.status_code == 409
    assert "search for them first" in alert(answer.text)
    assert await patrons_named(desk, "Bergström") == []


async def test_a_new_letter_stops_the_old_code_from_working(desk: DeskHarness) -> None:
    client, _ = await clerk(desk)
    first, _ = await register(client)
    old_code, card = letter_code(first.text), letter_card(first.text)
    [patron] = await patrons_named(desk, "Bergström")
    page = await client.get(f"/desk/patrons/{patron.id}/fees")
    second = await client.post(
        f"/desk/patrons/{patron.id}/activation-letter",
        data={"csrf": csrf(page.text), "reason": "The patron lost the first letter"},
    )
    assert second.status_code == 200, second.text
    assert "Codes given earlier no longer work." in second.text
    new_code = letter_code(second.text)
    assert new_code != old_code
    assert letter_card(second.text) == card
    issued = await audit_events(desk.runtime, "activation:issue_code")
    assert issued[-1].reason == "The patron lost the first letter"
    with pytest.raises(WrongSecret):
        await activate_with(desk, card, old_code)
    assert (await activate_with(desk, card, new_code)).activated_at is not None


async def test_no_new_letter_for_an_activated_account_or_another_institutions_patron(
    desk: DeskHarness,
) -> None:
    activated = await desk.world.patron()
    client, _ = await clerk(desk)
    page = await client.get("/desk/register")
    refused = await client.post(
        f"/desk/patrons/{activated.id}/activation-letter", data={"csrf": csrf(page.text)}
    )
    assert refused.status_code == 409
    assert alert(refused.text).startswith("This patron has activated the account already")
    assert "activation-code" not in refused.text
    other_id, _ = await desk.other_institution()
    stranger = await desk.staff("admin", institution_id=other_id)
    other = await desk.logged_in(stranger)
    other_page = await other.get("/desk/register")
    waiting = await desk.world.patron(activate=False)
    issued = len(await audit_events(desk.runtime, "activation:issue_code"))
    foreign = await other.post(
        f"/desk/patrons/{waiting.id}/activation-letter", data={"csrf": csrf(other_page.text)}
    )
    assert foreign.status_code == 404
    assert len(await audit_events(desk.runtime, "activation:issue_code")) == issued
    # The waiting patron's own code (issued by the test world) still works.
    assert waiting.activation_code is not None
    assert (await activate_with(desk, waiting.ecard, waiting.activation_code)).activated_at


async def test_without_the_csrf_token_nothing_is_registered_or_issued(desk: DeskHarness) -> None:
    waiting = await desk.world.patron(activate=False)
    client, _ = await clerk(desk)
    refused = await client.post("/desk/register", data={**IDA, "group": "external"})
    assert refused.status_code == 403
    assert await patrons_named(desk, "Bergström") == []
    letter = await client.post(f"/desk/patrons/{waiting.id}/activation-letter", data={})
    assert letter.status_code == 403
    assert "activation-code" not in letter.text
    assert waiting.activation_code is not None
    assert (await activate_with(desk, waiting.ecard, waiting.activation_code)).activated_at


async def test_only_groups_whose_data_the_desk_owns_are_offered(desk: DeskHarness) -> None:
    client, _ = await clerk(desk)
    page = await client.get("/desk/register")
    # Students' and employees' data belong to the registry and identity portal (R8).
    assert '<input type="hidden" name="group" value="external">' in page.text
    forged, _ = await register(client, group="student")
    assert forged.status_code == 422
    assert alert(forged.text) == "Choose one of the groups offered."
    assert await patrons_named(desk, "Bergström") == []
    async with desk.runtime.unit() as ctx:
        await create_group(ctx, desk.world.institution_id, code="senior", name="Seniors")
    page = await client.get("/desk/register")
    options = re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', page.text)
    assert [o for o in options if o[0] in ("external", "senior", "student", "employee")] == [
        ("external", "External"),
        ("senior", "Seniors"),
    ]
    answer, _ = await register(client, group="senior")
    assert answer.status_code == 200
    [patron] = await patrons_named(desk, "Bergström")
    assert patron.group_id != desk.world.groups["external"]
