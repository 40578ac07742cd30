"""Cards at the desk: lost (R10), stolen with the patron and a photo ID (R12), replaced for the
group's fee (R11), a physical card issued where the group may hold one (R4)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import httpx

from libcard.accounts.service import card_status
from libcard.cards.models import Card
from libcard.cards.rules import CardKind, CardState
from libcard.cards.service import cards_of, find_card, state_now
from libcard.context import ActorKind
from libcard.fees.service import ledger_of
from tests.conftest import World
from tests.desk.conftest import DeskHarness, audit_events, page_form
from tests.portal.conftest import alert, csrf


async def _desk_client(desk: DeskHarness, institution_id: int | None = None) -> httpx.AsyncClient:
    """A desk user's browser, in English (the institution's default language is Danish)."""
    client = await desk.logged_in(await desk.staff("desk", institution_id=institution_id))
    client.headers["Accept-Language"] = "en"
    return client


async def _card(world: World, number: str) -> Card:
    async with world.runtime.unit(readonly=True) as ctx:
        return await find_card(ctx, number)


async def _cards(world: World, patron_id: int) -> list[tuple[Card, CardState]]:
    async with world.runtime.unit(readonly=True) as ctx:
        return [(c, state_now(ctx, c)) for c in await cards_of(ctx, patron_id)]


async def _state(world: World, number: str) -> CardState:
    async with world.runtime.unit(readonly=True) as ctx:
        return state_now(ctx, await find_card(ctx, number))


async def _balance(world: World, patron_id: int) -> int:
    async with world.runtime.unit(readonly=True) as ctx:
        return (await ledger_of(ctx, patron_id)).balance_minor


def _notice(html: str) -> str:
    found = re.search(r'<div class="notice" role="status"><p>(.*?)</p>', html, re.S)
    return unescape(found.group(1)) if found else ""


async def test_a_physical_card_reported_lost_is_refused_the_e_card_keeps_working(
    desk: DeskHarness,
) -> None:
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    card = await _card(world, patron.physical)
    user = await desk.staff("desk")
    client = await desk.logged_in(user)
    client.headers["Accept-Language"] = "en"
    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/cards/{card.id}/lost",
        {"note": "Lost on the bus"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/desk/patrons/{patron.id}?done=lost"
    assert await _state(world, patron.physical) is CardState.LOST
    assert await _state(world, patron.ecard) is CardState.ACTIVE
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL), readonly=True) as ctx:
        assert (await card_status(ctx, patron.physical, note_refusal=False)).refusal == "card_lost"
    page = await client.get(done.headers["location"])
    assert _notice(page.text).startswith("The card is reported lost.")
    [event] = await audit_events(desk.runtime, "card:report_lost")
    assert event.subject_id == str(card.id)
    assert event.reason == "Lost on the bus"
    assert (event.actor_id, event.branch_id) == (f"staff:{user.id}", desk.branch_id)
    # The lost card can now be replaced (for the fee); it cannot be reported lost again.
    article = page.text.split(f'id="card-{card.id}"')[1].split("</article>")[0]
    assert f'action="/desk/cards/{card.id}/replace"' in article
    assert f'action="/desk/cards/{card.id}/lost"' not in article


async def test_a_lost_e_card_gets_a_new_e_card_at_once(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron()
    ecard = await _card(world, patron.ecard)
    client = await _desk_client(desk)
    done = await page_form(
        client, f"/desk/patrons/{patron.id}", f"/desk/cards/{ecard.id}/lost", {"note": ""}
    )
    assert done.status_code == 303
    cards = await _cards(world, patron.id)
    [(new, state)] = [(c, s) for c, s in cards if c.replaces_card_id == ecard.id]
    assert (new.kind, state) == (CardKind.ECARD, CardState.ACTIVE)
    assert done.headers["location"] == f"/desk/patrons/{patron.id}?done=lost&card={new.id}"
    page = await client.get(done.headers["location"])
    assert f"The new e-card number is {new.number}" in _notice(page.text)


async def test_marking_stolen_needs_the_tick_and_the_photo_id(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    card = await _card(world, patron.physical)
    client = await _desk_client(desk)
    refused = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/cards/{card.id}/stolen",
        {"photo_id_kind": "passport", "note": "Saw it used by someone else"},
    )
    assert refused.status_code == 422
    assert unescape(alert(refused.text)).startswith(
        "A card is marked stolen only with the patron here in person"
    )
    assert '<details class="action" open>\n    <summary>Mark stolen</summary>' in refused.text
    assert await _state(world, patron.physical) is CardState.ACTIVE
    no_kind = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/cards/{card.id}/stolen",
        {"patron_seen": "yes", "photo_id_kind": ""},
    )
    assert no_kind.status_code == 422
    assert alert(no_kind.text) == "Choose which kind of photo ID you checked."
    assert await _state(world, patron.physical) is CardState.ACTIVE
    assert await audit_events(desk.runtime, "card:mark_stolen") == []

    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/cards/{card.id}/stolen",
        {"patron_seen": "yes", "photo_id_kind": "passport", "note": "Bag stolen at the gym"},
    )
    assert done.status_code == 303
    assert await _state(world, patron.physical) is CardState.STOLEN
    [event] = await audit_events(desk.runtime, "card:mark_stolen")
    assert event.details == {"photo_id_kind": "passport", "note": "Bag stolen at the gym"}
    assert event.reason == "Bag stolen at the gym"
    assert event.branch_id == desk.branch_id


async def test_a_lost_card_may_still_be_marked_stolen(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    card = await _card(world, patron.physical)
    client = await _desk_client(desk)
    await page_form(client, f"/desk/patrons/{patron.id}", f"/desk/cards/{card.id}/lost", {})
    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/cards/{card.id}/stolen",
        {"patron_seen": "yes", "photo_id_kind": "national_id_card"},
    )
    assert done.status_code == 303
    assert await _state(world, patron.physical) is CardState.STOLEN


async def test_replacing_says_the_fee_first_then_shows_the_new_card_and_the_fee(
    desk: DeskHarness,
) -> None:
    world = desk.world
    patron = await world.patron(physical=True)  # externals: 50.00 for a new card
    assert patron.physical is not None
    old = await _card(world, patron.physical)
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    form = re.search(
        rf'<form method="post" action="/desk/cards/{old.id}/replace">(.*?)</form>', page.text, re.S
    )
    assert form
    assert "A new card costs DKK50.00. It is charged to the patron's account." in unescape(
        form.group(1)
    )
    assert "Issue the new card and charge DKK50.00" in form.group(1)

    done = await client.post(
        f"/desk/cards/{old.id}/replace",
        data={"note": "Card broke", "number": "", "csrf": csrf(page.text)},
    )
    assert done.status_code == 303
    cards = await _cards(world, patron.id)
    [(new, state)] = [(c, s) for c, s in cards if c.replaces_card_id == old.id]
    assert (new.kind, state) == (CardKind.PHYSICAL, CardState.ACTIVE)
    assert await _state(world, patron.physical) is CardState.REPLACED
    assert await _balance(world, patron.id) == 5000
    shown = await client.get(done.headers["location"])
    notice = _notice(shown.text)
    assert f"New card number: {new.number}." in notice
    assert "DKK50.00 has been charged to the account." in notice
    assert "New library card" in shown.text.split('id="fees"')[1]  # the fee in the list
    [event] = await audit_events(desk.runtime, "card:replace")
    assert event.reason == "Card broke"
    assert event.details["new_card_id"] == new.id


async def test_a_pre_printed_number_can_be_given_and_a_wrong_one_is_refused(
    desk: DeskHarness,
) -> None:
    from libcard.cards.rules import make_card_number

    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    old = await _card(world, patron.physical)
    client = await _desk_client(desk)
    printed = make_card_number("2770", 90001, 14)
    typo = printed[:-1] + str((int(printed[-1]) + 1) % 10)
    refused = await page_form(
        client, f"/desk/patrons/{patron.id}", f"/desk/cards/{old.id}/replace", {"number": typo}
    )
    assert refused.status_code == 422
    assert "check digit is wrong" in alert(refused.text)
    assert f'value="{typo}" aria-invalid="true"' in refused.text
    assert await _state(world, patron.physical) is CardState.ACTIVE
    assert await _balance(world, patron.id) == 0  # nothing charged: all rolled back
    done = await page_form(
        client, f"/desk/patrons/{patron.id}", f"/desk/cards/{old.id}/replace", {"number": printed}
    )
    assert done.status_code == 303
    assert await _state(world, printed) is CardState.ACTIVE


async def test_an_expired_card_is_renewed_free_of_charge(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    old = await _card(world, patron.physical)
    desk.clock.advance(timedelta(days=365 * 5 + 1))
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert "Renew this card" in page.text
    assert "The card has expired: the new card is free of charge." in page.text
    done = await client.post(
        f"/desk/cards/{old.id}/replace", data={"note": "", "csrf": csrf(page.text)}
    )
    assert done.status_code == 303
    assert await _balance(world, patron.id) == 0
    shown = await client.get(done.headers["location"])
    assert "No fee was charged." in _notice(shown.text)
    # Renewed once: the expired card offers no second renewal.
    assert f'action="/desk/cards/{old.id}/replace"' not in shown.text


async def test_a_physical_card_is_issued_where_the_group_may_hold_one(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron("external")
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert "Issue a physical card" in page.text
    done = await client.post(
        f"/desk/patrons/{patron.id}/cards",
        data={"note": "First library card", "number": "", "csrf": csrf(page.text)},
    )
    assert done.status_code == 303
    [(card, state)] = [(c, s) for c, s in await _cards(world, patron.id) if c.kind == "physical"]
    assert state is CardState.ACTIVE  # handed over in person to an activated account
    assert done.headers["location"] == f"/desk/patrons/{patron.id}?done=issued&card={card.id}"
    shown = await client.get(done.headers["location"])
    assert f"New card number: {card.number}." in _notice(shown.text)
    assert "Issue a physical card" not in shown.text  # one library card in use is enough
    issues = await audit_events(desk.runtime, "card:issue")  # the e-card's, then this one
    [event] = [e for e in issues if e.subject_id == str(card.id)]
    assert event.reason == "First library card"
    # A forged second issue is refused: a lost card is replaced (for its fee) instead.
    again = await client.post(
        f"/desk/patrons/{patron.id}/cards", data={"note": "", "csrf": csrf(shown.text)}
    )
    assert again.status_code == 409
    assert len(await audit_events(desk.runtime, "card:issue")) == len(issues)


async def test_students_get_no_physical_card(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron("student")
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert "Issue a physical card" not in page.text
    forged = await client.post(
        f"/desk/patrons/{patron.id}/cards", data={"note": "", "csrf": csrf(page.text)}
    )
    assert forged.status_code == 409
    assert alert(forged.text) == (
        "Patrons of this group have no physical library card; they use the e-card."
    )
    assert [c.kind for c, _ in await _cards(world, patron.id)] == ["ecard"]


async def test_an_e_card_is_not_replaced(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    ecard = await _card(desk.world, patron.ecard)
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert f'action="/desk/cards/{ecard.id}/replace"' not in page.text
    forged = await client.post(f"/desk/cards/{ecard.id}/replace", data={"csrf": csrf(page.text)})
    assert forged.status_code == 422
    assert await _state(desk.world, patron.ecard) is CardState.ACTIVE


async def test_without_the_csrf_token_no_card_changes(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    card = await _card(world, patron.physical)
    client = await _desk_client(desk)
    for action, data in (
        ("lost", {}),
        ("stolen", {"patron_seen": "yes", "photo_id_kind": "passport"}),
        ("replace", {}),
    ):
        refused = await client.post(f"/desk/cards/{card.id}/{action}", data=data)
        assert refused.status_code == 403, action
    issued = await client.post(f"/desk/patrons/{patron.id}/cards", data={})
    assert issued.status_code == 403
    assert await _state(world, patron.physical) is CardState.ACTIVE
    assert len(await _cards(world, patron.id)) == 2
    assert await _balance(world, patron.id) == 0


async def test_another_institutions_cards_are_not_found(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    card = await _card(world, patron.physical)
    other_id, _ = await desk.other_institution()
    stranger = await _desk_client(desk, other_id)
    token = csrf((await stranger.get("/desk")).text)
    for action, data in (
        ("lost", {}),
        ("stolen", {"patron_seen": "yes", "photo_id_kind": "passport"}),
        ("replace", {}),
    ):
        refused = await stranger.post(
            f"/desk/cards/{card.id}/{action}", data={**data, "csrf": token}
        )
        assert refused.status_code == 404, action
        missing = await stranger.post(f"/desk/cards/999999/{action}", data={"csrf": token})
        assert missing.status_code == 404, action
    issued = await stranger.post(f"/desk/patrons/{patron.id}/cards", data={"csrf": token})
    assert issued.status_code == 404
    assert await _state(world, patron.physical) is CardState.ACTIVE
    assert len(await _cards(world, patron.id)) == 2
