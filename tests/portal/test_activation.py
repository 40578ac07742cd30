"""Activating a new card in the portal (R1, R2): card number and the code from the letter or
mail; the patron chooses a password and a PIN and is logged in with an active card."""

from __future__ import annotations

from typing import Any

import httpx

from libcard.cards.rules import CardState, make_card_number
from libcard.kit.i18n import translate
from libcard.policy.rules import Action
from tests.conftest import PatronHandle
from tests.portal.conftest import (
    PASSWORD,
    SESSION_COOKIE,
    Portal,
    alert,
    card_state,
    csrf,
    login,
    password_valid,
    patron_row,
    pin_valid,
)

NEW_PASSWORD = "Lantern-Quiet-73-Harbour"
NEW_PIN = "4071"
WRONG = "The card number or activation code is wrong."


async def _activate(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get("/activate")
    assert page.status_code == 200
    data = {
        "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD,
        "pin": NEW_PIN,
        "pin_repeat": NEW_PIN,
        **fields,
        "csrf": csrf(page.text),
    }
    return await client.post("/activate", data=data)


async def _new(portal: Portal, **kw: Any) -> PatronHandle:
    patron = await portal.world.patron(activate=False, **kw)
    assert patron.activation_code is not None
    return patron


async def test_activation_logs_the_patron_in_with_an_active_card(portal: Portal) -> None:
    patron = await _new(portal, first_name="Signe", last_name="Krogh", physical=True)
    assert patron.activation_code is not None
    assert patron.physical is not None
    response = await _activate(
        portal.client, card_number=patron.ecard, code=patron.activation_code.lower()
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/card?welcome=1"
    assert SESSION_COOKIE in portal.client.cookies
    card = await portal.client.get(response.headers["location"])
    assert card.status_code == 200
    assert "Signe Krogh" in card.text
    assert f'<dd id="card-state">{translate("da", "Active")}</dd>' in card.text
    assert translate("da", "Your card is active. Welcome!") in card.text
    for number in (patron.ecard, patron.physical):
        status = await card_state(portal.runtime, portal.world, number)
        assert status.state is CardState.ACTIVE
        assert status.may[Action.BORROW] is True
    assert await password_valid(portal.runtime, patron.id, NEW_PASSWORD)
    assert await pin_valid(portal.runtime, portal.world, patron.ecard, NEW_PIN)
    # And the password chosen is the one to log in with from now on.
    other = await portal.browser()
    assert (await login(other, patron.ecard, NEW_PASSWORD)).status_code == 303


async def test_a_wrong_code_is_answered_like_an_unknown_card_number(portal: Portal) -> None:
    patron = await _new(portal)
    unknown = make_card_number("2770", 99_999, 14)  # well-formed, never issued
    wrong_code = await _activate(portal.client, card_number=patron.ecard, code="ABCDEFGHJK")
    unknown_card = await _activate(portal.client, card_number=unknown, code="ABCDEFGHJK")
    assert wrong_code.status_code == unknown_card.status_code
    assert wrong_code.status_code >= 400
    assert alert(wrong_code.text) == alert(unknown_card.text) == translate("da", WRONG)
    assert (await patron_row(portal.runtime, patron.id)).activated_at is None


async def test_an_activated_cards_number_is_answered_like_an_unknown_one(portal: Portal) -> None:
    """Card numbers are not to be probed: a guessed code with the number of a card in use
    must not tell that the number belongs to someone."""
    patron = await portal.patron()
    unknown = make_card_number("2770", 99_999, 14)
    in_use = await _activate(portal.client, card_number=patron.ecard, code="ABCDEFGHJK")
    unknown_card = await _activate(portal.client, card_number=unknown, code="ABCDEFGHJK")
    assert (in_use.status_code, alert(in_use.text)) == (
        unknown_card.status_code,
        alert(unknown_card.text),
    )


async def test_passwords_or_pins_that_differ_are_refused_and_keep_the_code(portal: Portal) -> None:
    patron = await _new(portal)
    assert patron.activation_code is not None
    cases = {
        "The two passwords are not the same.": {"password_repeat": NEW_PASSWORD + "x"},
        "The two PINs are not the same.": {"pin_repeat": "4072"},
    }
    for message, change in cases.items():
        response = await _activate(
            portal.client, card_number=patron.ecard, code=patron.activation_code, **change
        )
        assert response.status_code == 422
        assert alert(response.text) == translate("da", message)
        assert f'value="{patron.ecard}"' in response.text  # the number need not be typed again
        assert SESSION_COOKIE not in portal.client.cookies
    # The code is still good.
    response = await _activate(portal.client, card_number=patron.ecard, code=patron.activation_code)
    assert response.status_code == 303


async def test_a_trivial_pin_or_a_weak_password_is_refused_and_keeps_the_code(
    portal: Portal,
) -> None:
    patron = await _new(portal, first_name="Jens", last_name="Mortensen")
    assert patron.activation_code is not None
    cases: list[tuple[dict[str, str], str]] = [
        ({"pin": "1234", "pin_repeat": "1234"}, "pin_trivial"),
        ({"pin": "0000", "pin_repeat": "0000"}, "pin_trivial"),
        ({"pin": "12", "pin_repeat": "12"}, "pin_format"),
        ({"password": "password12", "password_repeat": "password12"}, "weak"),
        ({"password": "short", "password_repeat": "short"}, "short"),
        ({"password": "Mortensen-2025", "password_repeat": "Mortensen-2025"}, "weak"),
    ]
    for change, kind in cases:
        response = await _activate(
            portal.client, card_number=patron.ecard, code=patron.activation_code, **change
        )
        assert response.status_code == 422, change
        text = alert(response.text)
        assert text, change
        if kind == "pin_trivial":
            assert text == translate(
                "da", "This PIN is too easy to guess, like 0000 or 1234. Choose another."
            )
        elif kind == "pin_format":
            assert text == translate("da", "A PIN is 4 to 8 digits.")
        elif kind == "short":
            assert text == translate("da", "A password has at least %(min)s characters.", min=10)
        assert (await patron_row(portal.runtime, patron.id)).activated_at is None
    response = await _activate(portal.client, card_number=patron.ecard, code=patron.activation_code)
    assert response.status_code == 303


async def test_an_activation_code_works_only_once(portal: Portal) -> None:
    patron = await _new(portal)
    assert patron.activation_code is not None
    first = await _activate(portal.client, card_number=patron.ecard, code=patron.activation_code)
    assert first.status_code == 303
    someone = await portal.browser()
    again = await _activate(
        someone,
        card_number=patron.ecard,
        code=patron.activation_code,
        password="Another-Choice-Of-Words-8",
        password_repeat="Another-Choice-Of-Words-8",
        pin="9146",
        pin_repeat="9146",
    )
    assert again.status_code in (409, 422, 401, 403)
    assert alert(again.text)
    assert SESSION_COOKIE not in someone.cookies
    assert await password_valid(portal.runtime, patron.id, NEW_PASSWORD)
    assert not await password_valid(portal.runtime, patron.id, "Another-Choice-Of-Words-8")
    assert await pin_valid(portal.runtime, portal.world, patron.ecard, NEW_PIN)


async def test_the_activation_page_keeps_the_card_number_from_the_link(portal: Portal) -> None:
    patron = await _new(portal)
    page = await portal.client.get(f"/activate?card={patron.ecard}")
    assert f'value="{patron.ecard}"' in page.text
    assert PASSWORD not in page.text
