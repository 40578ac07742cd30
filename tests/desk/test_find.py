"""Finding a patron at the desk: a scanned card opens its owner at once, with a warning when
the card must not be used (R10, R12); a search by name, e-mail or birth date lists patrons."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx

from libcard.cards.models import Card
from libcard.cards.rules import CardKind, make_card_number
from libcard.cards.service import find_card, issue_card, mark_stolen, report_lost
from libcard.context import ActorKind
from tests.conftest import World
from tests.desk.conftest import DeskHarness
from tests.portal.conftest import alert, main_part


async def _desk_client(desk: DeskHarness, institution_id: int | None = None) -> httpx.AsyncClient:
    """A desk user's browser, in English (the institution's default language is Danish)."""
    client = await desk.logged_in(await desk.staff("desk", institution_id=institution_id))
    client.headers["Accept-Language"] = "en"
    return client


async def _card(world: World, number: str) -> Card:
    async with world.runtime.unit(readonly=True) as ctx:
        return await find_card(ctx, number)


def _warning(html: str) -> str:
    found = re.search(r'id="scan-warning" role="(\w+)"><p>(.*?)</p>', html, re.S)
    return f"{found.group(1)}: {found.group(2)}" if found else ""


async def test_the_start_page_puts_the_scan_field_first_and_focused(desk: DeskHarness) -> None:
    client = await _desk_client(desk)
    page = await client.get("/desk")
    assert page.status_code == 200
    main = main_part(page.text)
    scan = re.search(r'<form method="get" action="/desk/find"[^>]*>(.*?)</form>', main, re.S)
    search = re.search(r'<form method="get" action="/desk/search"[^>]*>(.*?)</form>', main, re.S)
    assert scan
    assert search
    assert main.index(scan.group(0)) < main.index(search.group(0))
    inputs = re.findall(r"<input [^>]*>", scan.group(1))
    assert len(inputs) == 1
    [field] = inputs
    assert 'name="card"' in field
    assert "autofocus" in field
    assert 'autocomplete="off"' in field
    assert "inputmode" not in field  # card numbers may hold letters: the full keyboard
    assert main.count("autofocus") == 1
    assert 'name="name"' in search.group(1)
    assert 'name="email"' in search.group(1)
    assert re.search(r'name="birth_date" type="date"', search.group(1))


async def test_a_scanned_card_opens_its_owner(desk: DeskHarness) -> None:
    patron = await desk.world.patron(first_name="Maja", last_name="Lund")
    client = await _desk_client(desk)
    card = await _card(desk.world, patron.ecard)
    # A scanner types the digits and Enter; a person may type them with spaces.
    spaced = " ".join(patron.ecard[i : i + 4] for i in range(0, len(patron.ecard), 4))
    for typed in (patron.ecard, spaced):
        found = await client.get("/desk/find", params={"card": typed})
        assert found.status_code == 303
        assert found.headers["location"] == f"/desk/patrons/{patron.id}?scanned={card.id}"
    view = await client.get(found.headers["location"])
    assert view.status_code == 200
    assert "<h1>Maja Lund</h1>" in view.text
    assert _warning(view.text) == ""  # an active card: nothing to warn of


async def test_wrong_card_numbers_say_what_is_wrong_on_the_start_page(
    desk: DeskHarness,
) -> None:
    client = await _desk_client(desk)
    good = make_card_number("2770", 4711, 14)
    wrong_digit = good[:-1] + str((int(good[-1]) + 1) % 10)
    cases = {
        "27-70/0001": (422, "This is not a card number of this library."),
        wrong_digit: (422, "check digit is wrong"),
        good: (404, "No card of this library has this number."),
    }
    for typed, (status, text) in cases.items():
        page = await client.get("/desk/find", params={"card": typed})
        assert page.status_code == status, typed
        assert text in alert(page.text), typed
        assert f'value="{typed}"' in page.text  # kept in the field to correct it
        assert 'aria-invalid="true"' in page.text


async def test_another_institutions_card_is_not_found(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    other_id, _ = await desk.other_institution()
    stranger = await _desk_client(desk, other_id)
    page = await stranger.get("/desk/find", params={"card": patron.ecard})
    assert page.status_code == 404
    assert "No card of this library has this number." in alert(page.text)


async def test_a_stolen_card_scanned_warns_of_misuse(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    card = await _card(world, patron.physical)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await mark_stolen(ctx, card.id, "passport")
    client = await _desk_client(desk)
    found = await client.get("/desk/find", params={"card": patron.physical})
    assert found.status_code == 303
    view = await client.get(found.headers["location"])
    today = desk.clock.now().date()
    assert _warning(view.text) == (
        f"alert: This card was reported stolen on {today.day} {today:%B %Y}. Keep it if you "
        "can, and check the person&#39;s photo ID: they may not be its owner."
    )
    # The warning comes first, before anything else of the account.
    main = main_part(view.text)
    assert main.index('id="scan-warning"') < main.index('id="blocks"')


async def test_lost_and_expired_cards_scanned_say_so(desk: DeskHarness) -> None:
    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    lost = await _card(world, patron.physical)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await report_lost(ctx, lost.id)
        fresh = await issue_card(ctx, patron.id, CardKind.PHYSICAL)
    client = await _desk_client(desk)
    found = await client.get("/desk/find", params={"card": patron.physical})
    warning = _warning((await client.get(found.headers["location"])).text)
    assert warning.startswith("alert: This card was reported lost on ")
    assert "check the person&#39;s photo ID: they may not be its owner." in warning

    desk.clock.advance(timedelta(days=365 * 5 + 2))  # library cards are valid for 5 years
    client = await _desk_client(desk)  # the desk session of 5 years ago is long over
    found = await client.get("/desk/find", params={"card": fresh.number})
    assert found.headers["location"] == f"/desk/patrons/{patron.id}?scanned={fresh.id}"
    expired = _warning((await client.get(found.headers["location"])).text)
    assert expired.startswith("status: This card expired on ")
    assert "Offer the patron a new card." in expired


async def test_a_replaced_card_scanned_says_so(desk: DeskHarness) -> None:
    from libcard.accounts.service import replace_card

    world = desk.world
    patron = await world.patron(physical=True)
    assert patron.physical is not None
    old = await _card(world, patron.physical)
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await replace_card(ctx, old.id)
    client = await _desk_client(desk)
    found = await client.get("/desk/find", params={"card": patron.physical})
    view = await client.get(found.headers["location"])
    assert _warning(view.text).startswith("alert: This card was replaced by a newer card on "), (
        view.text[:3000]
    )


async def test_search_by_name_email_and_birth_date_lists_patrons(desk: DeskHarness) -> None:
    world = desk.world
    maja = await world.patron(
        first_name="Maja", last_name="Lund", birth_date=date(1990, 3, 24), physical=True
    )
    await world.patron(first_name="Mads", last_name="Lundgaard", birth_date=date(1985, 1, 2))
    await world.patron(first_name="Ida", last_name="Berg", birth_date=date(1990, 3, 24))
    client = await _desk_client(desk)

    by_name = await client.get("/desk/search", params={"name": "lund"})
    assert by_name.status_code == 200
    rows = re.findall(r"<tr>\s*<td data-label=\"Name\">(.*?)</tr>", by_name.text, re.S)
    assert len(rows) == 2
    assert "Lund, Maja" in rows[0]
    assert "Lundgaard, Mads" in rows[1]
    assert f'href="/desk/patrons/{maja.id}"' in rows[0]
    assert "External" in rows[0]
    assert "24 March 1990" in rows[0]
    assert maja.ecard in rows[0]
    assert str(maja.physical) in rows[0]
    assert "E-card" in rows[0]
    assert "Library card" in rows[0]
    assert "2 patrons match." in by_name.text

    born = await client.get("/desk/search", params={"birth_date": "1990-03-24"})
    names = re.findall(r'href="/desk/patrons/\d+">([^<]+)</a>', main_part(born.text))
    assert names == ["Berg, Ida", "Lund, Maja"]

    both = await client.get("/desk/search", params={"name": "maja", "birth_date": "1990-03-24"})
    assert re.findall(r'href="/desk/patrons/\d+">([^<]+)</a>', main_part(both.text)) == [
        "Lund, Maja"
    ]

    nobody = await client.get("/desk/search", params={"name": "Zacharias"})
    assert "No patron matches." in nobody.text


async def test_search_by_e_mail(desk: DeskHarness) -> None:
    patron = await desk.world.patron(first_name="Eva", last_name="Sand", email="eva@example.org")
    client = await _desk_client(desk)
    page = await client.get("/desk/search", params={"email": "EVA@example.org"})
    assert f'href="/desk/patrons/{patron.id}"' in page.text
    assert "eva@example.org" in main_part(page.text)


async def test_a_search_without_criteria_or_with_a_bad_date_is_refused(
    desk: DeskHarness,
) -> None:
    client = await _desk_client(desk)
    empty = await client.get("/desk/search", params={"name": " ", "email": "", "birth_date": ""})
    assert empty.status_code == 422
    assert alert(empty.text) == "Fill in a name, an e-mail or a date of birth, then search."
    bad = await client.get("/desk/search", params={"birth_date": "24.03.1990"})
    assert bad.status_code == 422
    assert alert(bad.text) == "Write the date of birth as YYYY-MM-DD, like 1990-03-24."
    assert 'value="24.03.1990" autocomplete="off" aria-invalid="true"' in bad.text


async def test_many_results_are_cut_with_a_note_to_narrow_the_search(
    desk: DeskHarness,
) -> None:
    for n in range(51):
        await desk.world.patron(activate=False, first_name="Jens", last_name=f"Hansen{n:02d}")
    client = await _desk_client(desk)
    page = await client.get("/desk/search", params={"name": "jens hansen"})
    assert page.status_code == 200
    assert len(re.findall(r'href="/desk/patrons/\d+"', main_part(page.text))) == 50
    assert "More than 50 patrons match; only the first 50 are shown." in page.text


async def test_search_shows_only_the_staff_members_institution(desk: DeskHarness) -> None:
    await desk.world.patron(first_name="Karin", last_name="Nord")
    other_id, _ = await desk.other_institution()
    stranger = await _desk_client(desk, other_id)
    page = await stranger.get("/desk/search", params={"name": "karin"})
    assert page.status_code == 200
    assert "Nord" not in main_part(page.text)
    assert "No patron matches." in page.text


async def test_the_desk_pages_need_a_login(desk: DeskHarness) -> None:
    client = await desk.browser()
    for path in ("/desk", "/desk/find?card=1", "/desk/search?name=a"):
        page = await client.get(path)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/desk/login")
