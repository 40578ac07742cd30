"""Reporting a card lost (R10, R11): from that moment the card is refused everywhere, the other
cards keep working, and the page says how to get a new one and what it costs."""

from __future__ import annotations

import re

import httpx
import pytest

from libcard.cards.rules import CardState
from libcard.kit.i18n import money, translate
from tests.conftest import PatronHandle
from tests.portal.conftest import Portal, alert, card_state, csrf


async def _card_id(portal: Portal, number: str) -> int:
    return (await card_state(portal.runtime, portal.world, number)).card.id


async def _report(client: httpx.AsyncClient, card_id: int, confirm: bool = True) -> httpx.Response:
    page = await client.get("/lost-card")
    assert page.status_code == 200
    assert f'name="card_id" value="{card_id}"' in page.text
    data = {"card_id": str(card_id), "csrf": csrf(page.text)}
    if confirm:
        data["confirm"] = "yes"
    return await client.post("/lost-card", data=data)


def _replacement(html: str) -> str:
    found = re.search(r'<div id="replacement">(.*?)</div>', html, re.S)
    assert found, html
    return found.group(1)


async def _external_with_card(
    portal: Portal, language: str
) -> tuple[PatronHandle, httpx.AsyncClient]:
    patron = await portal.patron("external", physical=True)
    client = await portal.logged_in(patron, await portal.browser(**{"accept-language": language}))
    return patron, client


async def test_a_lost_library_card_is_refused_while_the_e_card_keeps_working(
    portal: Portal,
) -> None:
    patron, client = await _external_with_card(portal, "da")
    assert patron.physical is not None
    response = await _report(client, await _card_id(portal, patron.physical))
    assert response.status_code == 200
    assert 'id="replacement"' in response.text
    lost = await card_state(portal.runtime, portal.world, patron.physical)
    assert lost.state is CardState.LOST
    assert lost.refusal == "card_lost"
    assert not any(lost.may.values())
    ecard = await card_state(portal.runtime, portal.world, patron.ecard)
    assert ecard.state is CardState.ACTIVE
    assert ecard.refusal is None
    # The card is listed as lost on "My card", and can no longer be chosen on the form.
    card_page = await client.get("/card")
    assert f"{patron.physical} – {translate('da', 'Reported lost')}" in card_page.text
    form = await client.get("/lost-card")
    assert f'value="{lost.card.id}"' not in form.text


@pytest.mark.parametrize(
    ("language", "expected"), [("da", "50,00\xa0kr."), ("en", "DKK50.00"), ("de", "50,00\xa0DKK")]
)
async def test_the_page_says_what_a_new_library_card_costs(
    portal: Portal, language: str, expected: str
) -> None:
    """The external group's replacement fee is 50.00 DKK, in the page's language."""
    assert money(5000, "DKK", language) == expected  # what Babel gives; the page uses it
    patron, client = await _external_with_card(portal, language)
    assert patron.physical is not None
    response = await _report(client, await _card_id(portal, patron.physical))
    replacement = _replacement(response.text)
    assert expected in replacement
    assert replacement.count(expected) == 1
    assert (
        translate(
            language,
            "You can get a new library card at the lending desk. It costs %(price)s, which is "
            "added to your account.",
            price=expected,
        )
        in replacement
    )


async def test_a_group_without_a_fee_is_told_the_card_is_free(portal: Portal) -> None:
    patron = await portal.patron("employee", physical=True)
    assert patron.physical is not None
    client = await portal.logged_in(patron)
    response = await _report(client, await _card_id(portal, patron.physical))
    assert translate(
        "da", "You can get a new library card at the lending desk, free of charge."
    ) in (_replacement(response.text))


async def test_a_lost_e_card_is_replaced_by_a_new_number_at_once(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    response = await _report(client, await _card_id(portal, patron.ecard))
    assert response.status_code == 200
    numbers = re.findall(r"\b2770\d{10}\b", _replacement(response.text))
    assert len(numbers) == 1
    new = numbers[0]
    assert new != patron.ecard
    assert (await card_state(portal.runtime, portal.world, patron.ecard)).state is CardState.LOST
    fresh = await card_state(portal.runtime, portal.world, new)
    assert fresh.state is CardState.ACTIVE
    assert fresh.card.kind == "ecard"
    card_page = await client.get("/card")
    assert f'<p id="card-number" class="ecard-number">{new}</p>' in card_page.text
    assert f'aria-label="{new}"' in card_page.text  # the barcodes carry the new number
    assert f'<dd id="card-state">{translate("da", "Active")}</dd>' in card_page.text


async def test_nothing_is_reported_without_the_confirmation_box(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    response = await _report(client, await _card_id(portal, patron.ecard), confirm=False)
    assert response.status_code == 422
    assert alert(response.text) == translate("da", "Tick the box to confirm.")
    assert (await card_state(portal.runtime, portal.world, patron.ecard)).state is CardState.ACTIVE


async def test_a_lost_card_cannot_be_reported_twice(portal: Portal) -> None:
    patron, client = await _external_with_card(portal, "da")
    assert patron.physical is not None
    card_id = await _card_id(portal, patron.physical)
    assert (await _report(client, card_id)).status_code == 200
    page = await client.get("/lost-card")
    again = await client.post(
        "/lost-card", data={"card_id": str(card_id), "confirm": "yes", "csrf": csrf(page.text)}
    )
    assert again.status_code == 409
    assert alert(again.text) == translate(
        "da", "This card cannot be reported lost; it is no longer in use."
    )
