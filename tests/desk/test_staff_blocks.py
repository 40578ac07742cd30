"""Staff blocks at the desk (R14e): placed with a reason and an optional end date, lifted with
a note; a retained card's block is lifted the same way; derived blocks have no lift button."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx

from libcard.accounts.service import card_status
from libcard.blocks.rules import Block
from libcard.blocks.service import blocks_of, place_staff_block, retain_card
from libcard.cards.service import find_card
from libcard.context import ActorKind
from libcard.policy.rules import Action, BlockCode
from tests.conftest import World
from tests.desk.conftest import DeskHarness, audit_events, page_form
from tests.portal.conftest import alert, csrf


async def _desk_client(desk: DeskHarness, institution_id: int | None = None) -> httpx.AsyncClient:
    """A desk user's browser, in English (the institution's default language is Danish)."""
    client = await desk.logged_in(await desk.staff("desk", institution_id=institution_id))
    client.headers["Accept-Language"] = "en"
    return client


async def _blocks(world: World, patron_id: int) -> list[Block]:
    async with world.runtime.unit(readonly=True) as ctx:
        blocks, _ = await blocks_of(ctx, patron_id)
    return blocks


async def _may_borrow(world: World, number: str) -> bool:
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL), readonly=True) as ctx:
        status = await card_status(ctx, number, note_refusal=False)
    return status.may[Action.BORROW]


async def _place(world: World, patron_id: int, reason: str) -> int:
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        return (await place_staff_block(ctx, patron_id, reason)).id


async def test_a_staff_block_is_placed_with_its_reason_and_stops_borrowing(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    user = await desk.staff("desk")
    client = await desk.logged_in(user)
    client.headers["Accept-Language"] = "en"
    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/patrons/{patron.id}/blocks",
        {"reason": "Threatened staff on 4 January", "ends_on": ""},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/desk/patrons/{patron.id}?done=blocked"
    [block] = await _blocks(desk.world, patron.id)
    assert (block.code, block.reason, block.ends_at) == (
        BlockCode.STAFF,
        "Threatened staff on 4 January",
        None,
    )
    assert not await _may_borrow(desk.world, patron.ecard)
    page = await client.get(done.headers["location"])
    assert "The block is placed." in page.text
    assert "Blocked by the library" in page.text
    assert "Reason: Threatened staff on 4 January" in page.text
    assert "Contact the lending desk." in page.text  # what lifts it, as the patron reads it
    assert f'action="/desk/patrons/{patron.id}/blocks/{block.stored_id}/lift"' in page.text
    [event] = await audit_events(desk.runtime, "block:place")
    assert event.patron_id == patron.id
    assert event.actor_id == f"staff:{user.id}"
    assert event.branch_id == desk.branch_id
    assert event.reason == "Threatened staff on 4 January"


async def test_the_end_date_ends_the_block_at_the_start_of_that_day(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    client = await _desk_client(desk)
    today = desk.clock.now().astimezone(ZoneInfo("Europe/Copenhagen")).date()
    end = today + timedelta(days=7)
    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/patrons/{patron.id}/blocks",
        {"reason": "Cooling off", "ends_on": end.isoformat()},
    )
    assert done.status_code == 303
    [block] = await _blocks(desk.world, patron.id)
    midnight = datetime(end.year, end.month, end.day, tzinfo=ZoneInfo("Europe/Copenhagen"))
    assert block.ends_at == midnight.astimezone(UTC)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert f"The block ends on {end.day} {end:%B %Y}." in page.text
    # A second before that midnight it holds; at midnight it is gone.
    desk.clock.advance(midnight - desk.clock.now() - timedelta(seconds=1))
    assert len(await _blocks(desk.world, patron.id)) == 1
    desk.clock.advance(timedelta(seconds=1))
    assert await _blocks(desk.world, patron.id) == []
    assert await _may_borrow(desk.world, patron.ecard)


async def test_a_block_needs_a_reason_and_a_future_end_date(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    client = await _desk_client(desk)
    today = desk.clock.now().astimezone(ZoneInfo("Europe/Copenhagen")).date()
    cases = [
        (
            {"reason": "  ", "ends_on": ""},
            "Give the reason for the block: the patron reads it in the portal. Nothing was "
            "changed.",
        ),
        (
            {"reason": "Lost books", "ends_on": today.isoformat()},
            "Choose an end date after today, or leave it empty.",
        ),
        (
            {"reason": "Lost books", "ends_on": "next week"},
            "Write the end date as YYYY-MM-DD, or leave it empty.",
        ),
    ]
    for data, message in cases:
        refused = await page_form(
            client, f"/desk/patrons/{patron.id}", f"/desk/patrons/{patron.id}/blocks", data
        )
        assert refused.status_code == 422, data
        assert unescape(alert(refused.text)) == message
        assert '<details class="action" id="place-block" open>' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert ">Lost books</textarea>" in refused.text  # what was typed is kept
    assert await _blocks(desk.world, patron.id) == []
    assert await audit_events(desk.runtime, "block:place") == []


async def test_a_block_is_lifted_with_a_note(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    block_id = await _place(desk.world, patron.id, "Unpaid room damage")
    user = await desk.staff("supervisor")
    client = await desk.logged_in(user)
    client.headers["Accept-Language"] = "en"
    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/patrons/{patron.id}/blocks/{block_id}/lift",
        {"note": "Damage paid in cash"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/desk/patrons/{patron.id}?done=lifted"
    assert await _blocks(desk.world, patron.id) == []
    assert await _may_borrow(desk.world, patron.ecard)
    page = await client.get(done.headers["location"])
    assert "The block is lifted." in page.text
    assert "No blocks: the patron may borrow." in page.text
    [event] = await audit_events(desk.runtime, "block:lift")
    assert event.details["note"] == "Damage paid in cash"
    assert event.reason == "Damage paid in cash"
    assert (event.actor_id, event.branch_id) == (f"staff:{user.id}", desk.branch_id)
    # Lifting it again (a second click) changes nothing and says so.
    again = await client.post(
        f"/desk/patrons/{patron.id}/blocks/{block_id}/lift",
        data={"note": "", "csrf": csrf(page.text)},
    )
    assert again.status_code == 404
    assert alert(again.text) == "This block does not exist or has been lifted already."
    assert len(await audit_events(desk.runtime, "block:lift")) == 1


async def test_a_retained_card_block_is_lifted_the_same_way(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron()
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        card = await find_card(ctx, patron.ecard)
        block = await retain_card(ctx, card.id, "Self-checkout 2, ground floor")
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert "Card retained by a self-checkout machine" in page.text
    assert "Collect the card at the lending desk and bring a valid photo ID." in page.text
    done = await client.post(
        f"/desk/patrons/{patron.id}/blocks/{block.id}/lift",
        data={"note": "Card handed back, ID checked", "csrf": csrf(page.text)},
    )
    assert done.status_code == 303
    assert await _blocks(world, patron.id) == []
    [event] = await audit_events(desk.runtime, "block:lift")
    assert event.details["code"] == "card_retained"


async def test_a_block_of_another_patron_is_not_found_through_this_patron(
    desk: DeskHarness,
) -> None:
    first = await desk.world.patron()
    second = await desk.world.patron()
    block_id = await _place(desk.world, second.id, "Rude to staff")
    client = await _desk_client(desk)
    refused = await page_form(
        client,
        f"/desk/patrons/{first.id}",
        f"/desk/patrons/{first.id}/blocks/{block_id}/lift",
        {"note": "wrong page"},
    )
    assert refused.status_code == 404
    assert len(await _blocks(desk.world, second.id)) == 1
    # Derived or PIN blocks have no stored id to lift: "0" is nothing either.
    zero = await page_form(
        client,
        f"/desk/patrons/{first.id}",
        f"/desk/patrons/{first.id}/blocks/0/lift",
        {"note": ""},
    )
    assert zero.status_code == 404


async def test_staff_of_another_institution_get_404_and_change_nothing(
    desk: DeskHarness,
) -> None:
    patron = await desk.world.patron()
    block_id = await _place(desk.world, patron.id, "Rude to staff")
    other_id, _ = await desk.other_institution()
    stranger = await _desk_client(desk, other_id)
    token = csrf((await stranger.get("/desk")).text)
    placed = await stranger.post(
        f"/desk/patrons/{patron.id}/blocks", data={"reason": "Not yours", "csrf": token}
    )
    lifted = await stranger.post(
        f"/desk/patrons/{patron.id}/blocks/{block_id}/lift", data={"note": "", "csrf": token}
    )
    assert (placed.status_code, lifted.status_code) == (404, 404)
    [block] = await _blocks(desk.world, patron.id)
    assert block.reason == "Rude to staff"


async def test_without_the_csrf_token_no_block_is_placed_or_lifted(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    block_id = await _place(desk.world, patron.id, "Rude to staff")
    client = await _desk_client(desk)
    placed = await client.post(f"/desk/patrons/{patron.id}/blocks", data={"reason": "Again"})
    lifted = await client.post(
        f"/desk/patrons/{patron.id}/blocks/{block_id}/lift", data={"note": "x"}
    )
    assert (placed.status_code, lifted.status_code) == (403, 403)
    assert "This form has expired. Reload the page and try again." in alert(placed.text)
    [block] = await _blocks(desk.world, patron.id)
    assert block.reason == "Rude to staff"


async def test_derived_blocks_show_how_they_lift_but_no_lift_button(desk: DeskHarness) -> None:
    from libcard.fees.rules import FeeType
    from libcard.fees.service import charge

    world = desk.world
    patron = await world.patron()
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await charge(ctx, patron.id, FeeType.REPLACEMENT, 34900, "Lost: The Hobbit")
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    blocks = re.findall(r'<article class="block"[^>]*>(.*?)</article>', page.text, re.S)
    titles = [re.search(r"<h3>(.*?)</h3>", b, re.S).group(1) for b in blocks]  # type: ignore[union-attr]
    assert titles == ["Blocked because of unpaid fees", "Blocked: unpaid replacement invoice"]
    for block in blocks:
        assert "<form" not in block
        assert "How it is lifted:" in block
    assert "Pay the replacement invoice in full (DKK349.00)" in blocks[1]
