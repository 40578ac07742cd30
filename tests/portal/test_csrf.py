"""CSRF: every form of the portal carries a token bound to the visitor; a POST without it, with
a made-up one or with another visitor's is refused with 403 and the "reload" page, and changes
nothing. A page of another site can therefore not log a patron out, change their data or report
their card lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from libcard.cards.rules import CardState
from libcard.kit.i18n import translate
from libcard.patrons.credentials import request_password_reset
from tests.portal.conftest import (
    PASSWORD,
    PIN,
    SESSION_COOKIE,
    Portal,
    card_state,
    csrf,
    mails_to,
    password_valid,
    patron_row,
    pin_valid,
)

EXPIRED = "This form has expired. Reload the page and try again."
NEW_PASSWORD = "Copper-Kettle-Meadow-19"


@dataclass
class Attempt:
    """A browser that has opened `page`, the form data it posts to `path` (without csrf),
    and `unchanged`, which asserts that nothing happened."""

    client: httpx.AsyncClient
    page: str
    path: str
    data: dict[str, str]
    unchanged: Callable[[], Awaitable[None]]


async def _login(portal: Portal) -> Attempt:
    patron = await portal.patron()
    client = portal.client

    async def unchanged() -> None:
        assert SESSION_COOKIE not in client.cookies
        assert (await client.get("/card")).status_code == 303

    return Attempt(
        client, "/login", "/login", {"login": patron.ecard, "password": PASSWORD}, unchanged
    )


async def _activate(portal: Portal) -> Attempt:
    patron = await portal.world.patron(activate=False)
    assert patron.activation_code is not None
    data = {
        "card_number": patron.ecard,
        "code": patron.activation_code,
        "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD,
        "pin": "4071",
        "pin_repeat": "4071",
    }

    async def unchanged() -> None:
        assert (await patron_row(portal.runtime, patron.id)).activated_at is None
        status = await card_state(portal.runtime, portal.world, patron.ecard)
        assert status.state is CardState.NOT_ACTIVATED

    return Attempt(portal.client, "/activate", "/activate", data, unchanged)


async def _forgot(portal: Portal) -> Attempt:
    await portal.patron(email="forgetful@example.org")

    async def unchanged() -> None:
        assert await mails_to(portal.runtime, "forgetful@example.org") == []

    data = {"email": "forgetful@example.org"}
    return Attempt(portal.client, "/forgot-password", "/forgot-password", data, unchanged)


async def _reset(portal: Portal) -> Attempt:
    patron = await portal.patron(email="resetting@example.org")
    async with portal.runtime.unit() as ctx:
        issued = await request_password_reset(
            ctx, portal.world.institution_id, "resetting@example.org"
        )
    assert issued is not None
    path = f"/reset-password/{issued[1]}"

    async def unchanged() -> None:
        assert await password_valid(portal.runtime, patron.id, PASSWORD)
        assert not await password_valid(portal.runtime, patron.id, NEW_PASSWORD)

    data = {"password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    return Attempt(portal.client, path, path, data, unchanged)


async def _logout(portal: Portal) -> Attempt:
    client = await portal.logged_in(await portal.patron(), portal.client)

    async def unchanged() -> None:
        assert (await client.get("/card")).status_code == 200

    return Attempt(client, "/card", "/logout", {}, unchanged)


async def _password(portal: Portal) -> Attempt:
    patron = await portal.patron()
    client = await portal.logged_in(patron, portal.client)
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}

    async def unchanged() -> None:
        assert await password_valid(portal.runtime, patron.id, PASSWORD)
        assert (await client.get("/card")).status_code == 200

    return Attempt(client, "/password", "/password", data, unchanged)


async def _pin(portal: Portal) -> Attempt:
    patron = await portal.patron()
    client = await portal.logged_in(patron, portal.client)

    async def unchanged() -> None:
        assert await pin_valid(portal.runtime, portal.world, patron.ecard, PIN)
        assert not await pin_valid(portal.runtime, portal.world, patron.ecard, "4071")

    data = {"password": PASSWORD, "pin": "4071", "pin_repeat": "4071"}
    return Attempt(client, "/pin", "/pin", data, unchanged)


async def _my_data(portal: Portal) -> Attempt:
    patron = await portal.patron(email="mine@example.org", phone="+45 11 22 33 44")
    client = await portal.logged_in(patron, portal.client)

    async def unchanged() -> None:
        row = await patron_row(portal.runtime, patron.id)
        assert (row.email, row.phone) == ("mine@example.org", "+45 11 22 33 44")

    data = {"email": "attacker@example.org", "phone": "+45 99 99 99 99"}
    return Attempt(client, "/my-data", "/my-data", data, unchanged)


async def _lost_card(portal: Portal) -> Attempt:
    patron = await portal.patron()
    client = await portal.logged_in(patron, portal.client)
    status = await card_state(portal.runtime, portal.world, patron.ecard)

    async def unchanged() -> None:
        after = await card_state(portal.runtime, portal.world, patron.ecard)
        assert after.state is CardState.ACTIVE

    data = {"card_id": str(status.card.id), "confirm": "yes"}
    return Attempt(client, "/lost-card", "/lost-card", data, unchanged)


FORMS = {
    "login": _login,
    "activate": _activate,
    "forgot-password": _forgot,
    "reset-password": _reset,
    "logout": _logout,
    "password": _password,
    "pin": _pin,
    "my-data": _my_data,
    "lost-card": _lost_card,
}


async def _other_visitors_token(portal: Portal, attempt: Attempt) -> str:
    """The same form's token as another browser got it (logged in as another patron where the
    form needs a login)."""
    other = await portal.browser()
    if attempt.page in ("/card", "/password", "/pin", "/my-data", "/lost-card"):
        await portal.logged_in(await portal.patron(), other)
    page = await other.get(attempt.page)
    assert page.status_code == 200
    return csrf(page.text)


@pytest.mark.parametrize("variant", ["missing", "wrong", "another visitor's"])
@pytest.mark.parametrize("form", list(FORMS))
async def test_a_form_without_its_own_token_is_refused_and_changes_nothing(
    portal: Portal, form: str, variant: str
) -> None:
    attempt = await FORMS[form](portal)
    page = await attempt.client.get(attempt.page)
    assert page.status_code == 200
    own = csrf(page.text)
    data = dict(attempt.data)
    if variant == "wrong":
        data["csrf"] = ("0" if own[0] != "0" else "1") + own[1:]
    elif variant == "another visitor's":
        data["csrf"] = await _other_visitors_token(portal, attempt)
        assert data["csrf"] != own
    response = await attempt.client.post(attempt.path, data=data)
    assert response.status_code == 403, (response.status_code, response.headers)
    assert response.headers["content-type"].startswith("text/html")
    assert translate("da", EXPIRED) in response.text
    await attempt.unchanged()


@pytest.mark.parametrize("form", list(FORMS))
async def test_with_its_own_token_the_same_form_is_accepted(portal: Portal, form: str) -> None:
    """The counterpart, so that the refusals above are the token's doing: the same post with
    the page's own token goes through (a redirect after a successful POST, or the sent page)."""
    attempt = await FORMS[form](portal)
    page = await attempt.client.get(attempt.page)
    response = await attempt.client.post(
        attempt.path, data={**attempt.data, "csrf": csrf(page.text)}
    )
    assert response.status_code in (200, 303), response.text
    assert translate("da", EXPIRED) not in response.text
    with pytest.raises(AssertionError):
        await attempt.unchanged()


async def test_a_logged_in_token_stops_working_when_the_session_ends(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    token = csrf((await client.get("/my-data")).text)
    await client.post("/logout", data={"csrf": token})
    await portal.logged_in(patron, client)
    response = await client.post("/my-data", data={"csrf": token, "phone": "+45 12 12 12 12"})
    assert response.status_code == 403
    assert (await patron_row(portal.runtime, patron.id)).phone is None
