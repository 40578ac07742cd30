"""Changing the password (R7) and the PIN (R5) in the portal: both need the current password;
a new password ends the other sessions and gives this browser a new session."""

from __future__ import annotations

import httpx

from libcard.access.scopes import ALL_SCOPES
from libcard.access.service import create_token
from libcard.context import ActorKind
from libcard.kit.i18n import translate
from tests.portal.conftest import (
    PASSWORD,
    PIN,
    SESSION_COOKIE,
    Portal,
    alert,
    login,
    password_valid,
    pin_valid,
    post_form,
)

NEW_PASSWORD = "Juniper-Cobalt-Ferry-64"
NEW_PIN = "7391"
WRONG_PASSWORD = "The password is wrong."


async def _change_password(
    client: httpx.AsyncClient, current: str, new: str = NEW_PASSWORD, repeat: str | None = None
) -> httpx.Response:
    data = {"current_password": current, "password": new, "password_repeat": repeat or new}
    return await post_form(client, "/password", data)


async def _change_pin(
    client: httpx.AsyncClient, password: str, pin: str = NEW_PIN, repeat: str | None = None
) -> httpx.Response:
    return await post_form(
        client, "/pin", {"password": password, "pin": pin, "pin_repeat": repeat or pin}
    )


async def test_a_wrong_current_password_is_refused(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    response = await _change_password(client, "Not-My-Password-1")
    assert response.status_code == 401
    assert alert(response.text) == translate("da", WRONG_PASSWORD)
    assert 'aria-invalid="true"' in response.text
    assert await password_valid(portal.runtime, patron.id, PASSWORD)
    assert not await password_valid(portal.runtime, patron.id, NEW_PASSWORD)
    assert (await client.get("/card")).status_code == 200  # still logged in


async def test_a_new_password_ends_other_sessions_but_keeps_this_one(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    other = await portal.logged_in(patron)
    before = client.cookies[SESSION_COOKIE]
    response = await _change_password(client, PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/password?done=1"
    after = client.cookies[SESSION_COOKIE]
    assert after != before  # a new session secret for this browser
    done = await client.get("/password?done=1")
    assert done.status_code == 200
    assert (
        translate("da", "Your password has been changed. You have been logged out everywhere else.")
        in done.text
    )
    assert (await other.get("/card")).headers["location"] == "/login?next=/card"
    # Whoever copied the old cookie of this browser is out as well.
    copy = await portal.browser()
    copy.cookies.set(SESSION_COOKIE, before, domain="testserver.local")
    assert (await copy.get("/card")).status_code == 303
    assert await password_valid(portal.runtime, patron.id, NEW_PASSWORD)
    assert (await login(await portal.browser(), patron.ecard, NEW_PASSWORD)).status_code == 303
    assert (await login(await portal.browser(), patron.ecard, PASSWORD)).status_code != 303


async def test_new_passwords_that_differ_or_are_weak_are_refused(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    mismatch = await _change_password(client, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert mismatch.status_code == 422
    assert alert(mismatch.text) == translate("da", "The two passwords are not the same.")
    weak = await _change_password(client, PASSWORD, "password12")
    assert weak.status_code == 422
    assert alert(weak.text)
    assert await password_valid(portal.runtime, patron.id, PASSWORD)


async def test_guessing_the_current_password_is_limited(portal: Portal) -> None:
    """Someone at an unlocked screen cannot try passwords for ever on the change form."""
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    for _ in range(10):
        assert (await _change_password(client, "Not-My-Password-1")).status_code == 401
    response = await _change_password(client, PASSWORD)
    assert response.status_code == 429
    assert alert(response.text) == translate(
        "da", "Too many failed attempts. Wait a quarter of an hour, then try again."
    )
    assert await password_valid(portal.runtime, patron.id, PASSWORD)


async def test_a_new_pin_needs_the_password(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    response = await _change_pin(client, "Not-My-Password-1")
    assert response.status_code == 401
    assert alert(response.text) == translate("da", WRONG_PASSWORD)
    assert await pin_valid(portal.runtime, portal.world, patron.ecard, PIN)


async def test_the_new_pin_works_at_the_machine_and_the_old_one_no_longer(portal: Portal) -> None:
    patron = await portal.patron(physical=True)
    assert patron.physical is not None
    client = await portal.logged_in(patron)
    response = await _change_pin(client, PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/pin?done=1"
    done = await client.get("/pin?done=1")
    assert translate("da", "Your PIN has been changed. Use the new PIN from now on.") in done.text
    # One PIN for the account: every card of it takes the new one.
    for number in (patron.ecard, patron.physical):
        assert await pin_valid(portal.runtime, portal.world, number, NEW_PIN)
    assert not await pin_valid(portal.runtime, portal.world, patron.ecard, PIN)


async def test_the_new_pin_is_checked_through_the_api_as_well(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    assert (await _change_pin(client, PASSWORD)).status_code == 303
    async with portal.runtime.unit() as ctx:
        _, secret = await create_token(
            ctx,
            name="self-checkout",
            actor_kind=ActorKind.TERMINAL,
            scopes=ALL_SCOPES,
            institution_id=portal.world.institution_id,
        )
    api = await portal.browser(authorization=f"Bearer {secret}")
    url = f"/api/v1/cards/{patron.ecard}/pin/verify"
    new = await api.post(url, json={"pin": NEW_PIN})
    assert new.status_code == 200, new.text
    assert new.json()["valid"] is True
    old = await api.post(url, json={"pin": PIN})
    assert old.status_code == 200, old.text
    assert old.json()["valid"] is False


async def test_pins_that_differ_or_are_trivial_are_refused(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    mismatch = await _change_pin(client, PASSWORD, NEW_PIN, "7392")
    assert mismatch.status_code == 422
    assert alert(mismatch.text) == translate("da", "The two PINs are not the same.")
    trivial = await _change_pin(client, PASSWORD, "1234")
    assert trivial.status_code == 422
    assert alert(trivial.text) == translate(
        "da", "This PIN is too easy to guess, like 0000 or 1234. Choose another."
    )
    assert await pin_valid(portal.runtime, portal.world, patron.ecard, PIN)
