"""Whose pages: a logged-out visitor is sent to the login page (and back afterwards), and a
patron sees and acts on only their own account."""

from __future__ import annotations

import re

import pytest

from libcard.accounts.service import card_status
from libcard.cards.rules import CardState
from libcard.context import ActorKind
from tests.portal.conftest import SESSION_COOKIE, Portal, card_state, csrf

LOGGED_IN_PAGES = ["/card", "/overview", "/my-data", "/password", "/pin", "/lost-card"]


@pytest.mark.parametrize("path", LOGGED_IN_PAGES)
async def test_a_logged_out_visitor_is_sent_to_the_login_page(portal: Portal, path: str) -> None:
    response = await portal.client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"
    login = await portal.client.get(response.headers["location"])
    assert login.status_code == 200
    assert f'name="next" value="{path}"' in login.text


@pytest.mark.parametrize("path", ["/logout", "/password", "/pin", "/my-data", "/lost-card"])
async def test_a_logged_out_post_changes_nothing_and_asks_for_a_login(
    portal: Portal, path: str
) -> None:
    page = await portal.client.get("/login")
    response = await portal.client.post(path, data={"csrf": csrf(page.text)})
    if path == "/logout":
        assert response.headers["location"] == "/login?done=out"
    else:
        assert response.headers["location"] == f"/login?next={path}"
    assert SESSION_COOKIE not in portal.client.cookies


async def test_the_start_page_goes_to_the_card_or_the_login(portal: Portal) -> None:
    assert (await portal.client.get("/")).headers["location"] == "/login"
    await portal.logged_in(await portal.patron(), portal.client)
    assert (await portal.client.get("/")).headers["location"] == "/card"
    assert (await portal.client.get("/login")).headers["location"] == "/card"


async def test_a_patron_cannot_report_another_patrons_card_lost(portal: Portal) -> None:
    alice = await portal.patron(first_name="Alice", last_name="Aagaard", physical=True)
    bob = await portal.patron(first_name="Bob", last_name="Bundgaard", physical=True)
    assert bob.physical is not None
    bobs_cards = [
        (await card_state(portal.runtime, portal.world, number)).card.id
        for number in (bob.ecard, bob.physical)
    ]
    client = await portal.logged_in(alice)
    for card_id in bobs_cards:
        page = await client.get("/lost-card")
        response = await client.post(
            "/lost-card", data={"card_id": str(card_id), "confirm": "yes", "csrf": csrf(page.text)}
        )
        assert response.status_code == 404
        assert 'role="alert"' in response.text
        assert "Bundgaard" not in response.text
        assert bob.ecard not in response.text
        assert bob.physical not in response.text
    async with portal.runtime.unit(portal.world.actor(ActorKind.DESK)) as ctx:
        for number in (bob.ecard, bob.physical):
            assert (await card_status(ctx, number)).state is CardState.ACTIVE
    # Alice's own cards are untouched too.
    assert (await card_state(portal.runtime, portal.world, alice.ecard)).state is CardState.ACTIVE


async def test_a_card_id_that_does_not_exist_is_answered_like_another_patrons(
    portal: Portal,
) -> None:
    alice = await portal.patron()
    bob = await portal.patron()
    bobs = (await card_state(portal.runtime, portal.world, bob.ecard)).card.id
    client = await portal.logged_in(alice)
    answers = []
    for card_id in (bobs, 999_999):
        page = await client.get("/lost-card")
        response = await client.post(
            "/lost-card", data={"card_id": str(card_id), "confirm": "yes", "csrf": csrf(page.text)}
        )
        answers.append((response.status_code, re.sub(r'value="[0-9a-f]{64}"', "", response.text)))
    assert answers[0] == answers[1]


async def test_a_patrons_pages_never_show_another_patrons_name_or_number(portal: Portal) -> None:
    alice = await portal.patron(first_name="Alice", last_name="Aagaard", email="alice@example.org")
    bob = await portal.patron(
        first_name="Bob", last_name="Bundgaard", email="bob@example.org", physical=True
    )
    assert bob.physical is not None
    await portal.logged_in(bob)  # Bob is logged in elsewhere at the same time
    client = await portal.logged_in(alice)
    for path in LOGGED_IN_PAGES:
        page = await client.get(path)
        assert page.status_code == 200, path
        if path in ("/card", "/my-data"):
            assert "Aagaard" in page.text  # her own name is there
        for secret in ("Bundgaard", "bob@example.org", bob.ecard, bob.physical):
            assert secret not in page.text, (path, secret)
