"""The patron view at the desk: who the patron is, the account's state, cards, blocks with
what lifts them (R17), open fees and the balance, and the account's latest events."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx

from libcard.accounts.service import card_status
from libcard.cards.service import find_card, report_lost
from libcard.context import ActorKind
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from tests.desk.conftest import DeskHarness, page_form
from tests.portal.conftest import main_part


async def _desk_client(desk: DeskHarness, institution_id: int | None = None) -> httpx.AsyncClient:
    """A desk user's browser, in English (the institution's default language is Danish)."""
    client = await desk.logged_in(await desk.staff("desk", institution_id=institution_id))
    client.headers["Accept-Language"] = "en"
    return client


def _section(html: str, section_id: str) -> str:
    found = re.search(rf'<section [^>]*id="{section_id}">(.*?)</section>', html, re.S)
    assert found, section_id
    return found.group(1)


def _facts(html: str) -> dict[str, str]:
    """The page's <dt>/<dd> pairs, tags stripped."""
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", html, re.S)
    return {
        dt.strip(): " ".join(re.sub(r"<[^>]+>", "", dd.replace("<br>", " ")).split())
        for dt, dd in pairs
    }


async def test_the_view_shows_the_patron_the_account_and_the_cards(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron(
        first_name="Maja",
        last_name="Lund",
        birth_date=date(1990, 3, 24),
        email="maja@example.org",
        phone="+45 12 34 56 78",
        street="Nørregade 10",
        postal_code="1165",
        city="København K",
        country="DK",
        physical=True,
    )
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    assert page.status_code == 200
    main = main_part(page.text)
    assert "<h1>Maja Lund</h1>" in main
    facts = _facts(main)
    assert facts["Group"] == "External"
    assert facts["Date of birth"] == "24 March 1990"
    assert facts["E-mail"] == "maja@example.org"
    assert facts["Phone"] == "+45 12 34 56 78"
    assert facts["Address"] == "Nørregade 10 1165 København K DK"
    assert facts["Activated"].startswith("Yes, ")
    assert facts["Account expires"] == "No end date"
    assert facts["Balance"] == "DKK0.00"
    assert f'href="/desk/patrons/{patron.id}/fees">Take a payment / fees</a>' in main

    cards = _section(main, "cards")
    assert patron.physical is not None
    for number, kind in ((patron.ecard, "E-card"), (patron.physical, "Library card")):
        article = re.search(
            rf'<article[^>]*>\s*<h3>{kind} <span class="mono">{number}</span></h3>(.*?)</article>',
            cards,
            re.S,
        )
        assert article, (kind, cards)
        card_facts = _facts(article.group(1))
        assert card_facts["State"] == "Active"
        assert card_facts["Since"].startswith("5 Jan 2026")
    physical = re.search(rf"{patron.physical}</span></h3>(.*?)</article>", cards, re.S)
    assert physical
    expires = desk.clock.now() + timedelta(days=365 * 5)  # the policy's 5 years of validity
    assert _facts(physical.group(1))["Expires"] == f"{expires.day} {expires:%B %Y}"
    assert "No blocks: the patron may borrow." in main


async def test_an_account_not_yet_activated_says_so(desk: DeskHarness) -> None:
    patron = await desk.world.patron(activate=False)
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    facts = _facts(main_part(page.text))
    assert facts["Activated"] == "Not activated yet"
    assert "Not activated" in _section(page.text, "cards")


async def test_open_fees_the_balance_and_the_fee_block(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron()
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await charge(ctx, patron.id, FeeType.OVERDUE, 20000, "Overdue: Moby Dick")
        await charge(ctx, patron.id, FeeType.PROCESSING, 2500, "Processing")
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    fees = _section(page.text, "fees")
    assert re.search(r'id="balance">DKK225.00<', fees)
    rows = re.findall(r"<tr>(.*?)</tr>", fees, re.S)[1:]
    assert len(rows) == 2
    assert "Overdue fine" in rows[0]
    assert "Overdue: Moby Dick" in rows[0]
    assert "DKK200.00" in rows[0]
    assert "Processing fee" in rows[1]
    assert "Open" in rows[1]
    # 225.00 reaches the threshold: a derived block, lifted by paying, never by a button.
    blocks = _section(page.text, "blocks")
    assert "Blocked because of unpaid fees" in blocks
    assert "You owe DKK225.00; the limit is DKK225.00." in blocks
    assert "fee_threshold" in blocks
    assert "Stops: borrowing, renewing loans, placing holds, digital services" in blocks
    assert "Pay all you owe (DKK225.00)" in blocks
    assert f'href="/desk/patrons/{patron.id}/fees">Take a payment</a>' in blocks
    assert "/lift" not in blocks
    assert "pin-unlock" not in blocks


async def test_the_history_shows_who_did_what_where_and_why(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    client = await _desk_client(desk)
    done = await page_form(
        client,
        f"/desk/patrons/{patron.id}",
        f"/desk/patrons/{patron.id}/blocks",
        {"reason": "Damaged three books", "ends_on": ""},
    )
    assert done.status_code == 303
    page = await client.get(f"/desk/patrons/{patron.id}")
    history = _section(page.text, "history")
    rows = re.findall(r"<tr>(.*?)</tr>", history, re.S)[1:]
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)
    ]
    assert cells[1:] == [
        "Block placed",
        cells[2],
        "Main Library",
        "Damaged three books",
        "–",
    ]
    assert cells[2].startswith("Sam Desk (desk-")
    # Older events below, newest first: the registration is the last row.
    assert "Registered" in rows[-1]


async def test_the_history_is_limited_to_the_latest_20_events(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron()
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        for n in range(25):
            await charge(ctx, patron.id, FeeType.OTHER, 100, f"Copy {n}")
    client = await _desk_client(desk)
    page = await client.get(f"/desk/patrons/{patron.id}")
    rows = re.findall(r"<tr>", _section(page.text, "history"))[1:]
    assert len(rows) == 20


async def test_another_institutions_patron_is_not_found(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    other_id, _ = await desk.other_institution()
    stranger = await _desk_client(desk, other_id)
    for path in (f"/desk/patrons/{patron.id}", "/desk/patrons/999999"):
        page = await stranger.get(path)
        assert page.status_code == 404
        assert "There is no such patron." in page.text


async def test_a_lost_card_used_again_is_shown_as_possible_misuse(desk: DeskHarness) -> None:
    """R10: the use of a lost card is logged and shown to staff."""
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    client = await _desk_client(desk)
    assert 'id="misuse"' not in (await client.get(f"/desk/patrons/{patron.id}")).text
    async with desk.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await report_lost(ctx, (await find_card(ctx, patron.physical)).id)
    async with desk.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        await card_status(ctx, patron.physical)  # a self-checkout machine is shown the card
    page = main_part((await client.get(f"/desk/patrons/{patron.id}")).text)
    assert 'id="misuse"' in page
    assert "possible misuse" in page


async def test_a_patron_not_yet_activated_can_get_a_new_letter(desk: DeskHarness) -> None:
    world = desk.world
    waiting = await world.patron(activate=False)
    active = await world.patron()
    client = await _desk_client(desk)
    assert "/activation-letter" not in (await client.get(f"/desk/patrons/{active.id}")).text
    letter = await page_form(
        client,
        f"/desk/patrons/{waiting.id}",
        f"/desk/patrons/{waiting.id}/activation-letter",
        {"reason": "Letter lost in the post"},
    )
    assert letter.status_code == 200
    assert waiting.ecard in letter.text


async def test_an_id_too_large_for_the_database_is_a_page_not_found(desk: DeskHarness) -> None:
    client = await _desk_client(desk)
    for path in ("/desk/patrons/99999999999999999999", "/desk/payments/-1/receipt"):
        page = await client.get(path)
        assert page.status_code == 404, path
        assert "<html" in page.text


async def test_a_refusal_page_keeps_the_staff_members_navigation_and_language(
    desk: DeskHarness,
) -> None:
    other, _ = await desk.other_institution()
    stranger = await desk.world.patron()
    client = await desk.logged_in(await desk.staff("desk", institution_id=other))
    client.headers["Accept-Language"] = "de"
    page = await client.get(f"/desk/patrons/{stranger.id}")
    assert page.status_code == 404
    assert 'lang="de"' in page.text
    assert 'action="/desk/logout"' in page.text
