"""The forgotten password (R7): one answer for every address, a mailed single-use link that
expires, and a reset that ends every session of the account."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from libcard.kit.i18n import translate
from libcard.policy.models import Institution
from tests.portal.conftest import (
    PASSWORD,
    Portal,
    alert,
    csrf,
    login,
    mails_to,
    main_part,
    password_valid,
    post_form,
)

NEW_PASSWORD = "Willow-Harbour-Drum-58"
INVALID = "This link has expired or has been used. Ask for a new one on the login page."
_LINK = re.compile(r"https?://\S+/reset-password/(\S+)")


async def _ask(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await post_form(client, "/forgot-password", {"email": address})


async def _link(portal: Portal, address: str) -> str:
    """Ask for a link and read it from the mail queued for `address`: the path to open."""
    response = await _ask(portal.client, address)
    assert response.status_code == 200
    mails = await mails_to(portal.runtime, address)
    assert mails, "no mail was queued"
    found = _LINK.search(mails[-1].body)
    assert found, mails[-1].body
    return f"/reset-password/{found.group(1)}"


async def _reset(
    client: httpx.AsyncClient, path: str, password: str = NEW_PASSWORD, repeat: str | None = None
) -> httpx.Response:
    return await post_form(
        client, path, {"password": password, "password_repeat": repeat or password}
    )


async def test_the_answer_is_the_same_for_a_known_and_an_unknown_address(portal: Portal) -> None:
    await portal.patron(email="known@example.org")
    known = await _ask(portal.client, "known@example.org")
    unknown = await _ask(await portal.browser(), "unknown@example.org")
    assert known.status_code == unknown.status_code == 200
    assert main_part(known.text).replace("known@", "X@") == main_part(unknown.text).replace(
        "unknown@", "X@"
    )
    assert 'role="status"' in known.text
    assert len(await mails_to(portal.runtime, "known@example.org")) == 1
    assert await mails_to(portal.runtime, "unknown@example.org") == []


async def test_no_link_is_mailed_for_an_account_not_yet_activated(portal: Portal) -> None:
    await portal.world.patron(activate=False, email="inactive@example.org")
    assert (await _ask(portal.client, "inactive@example.org")).status_code == 200
    assert await mails_to(portal.runtime, "inactive@example.org") == []


async def test_the_mailed_link_sets_the_password(portal: Portal) -> None:
    patron = await portal.patron(email="reset@example.org", first_name="Rasmus", last_name="Friis")
    path = await _link(portal, "reset@example.org")
    mail = (await mails_to(portal.runtime, "reset@example.org"))[-1]
    assert mail.template == "password_reset"
    assert mail.patron_id == patron.id
    assert "Rasmus Friis" in mail.body
    page = await portal.client.get(path)
    assert page.status_code == 200
    response = await _reset(portal.client, path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?done=reset"
    assert await password_valid(portal.runtime, patron.id, NEW_PASSWORD)
    assert not await password_valid(portal.runtime, patron.id, PASSWORD)
    notice = await portal.client.get("/login?done=reset")
    assert (
        translate("da", "Your password has been changed. Log in with the new one.") in notice.text
    )
    assert (await login(portal.client, "reset@example.org", NEW_PASSWORD)).status_code == 303


async def test_a_reset_ends_every_session_of_the_account(portal: Portal) -> None:
    patron = await portal.patron(email="everywhere@example.org")
    phone = await portal.logged_in(patron)
    laptop = await portal.logged_in(patron)
    path = await _link(portal, "everywhere@example.org")
    assert (await _reset(portal.client, path)).status_code == 303
    for browser in (phone, laptop):
        away = await browser.get("/card")
        assert away.status_code == 303
        assert away.headers["location"] == "/login?next=/card"


async def test_a_reset_in_a_logged_in_browser_logs_it_out_too(portal: Portal) -> None:
    patron = await portal.patron(email="here@example.org")
    path = await _link(portal, "here@example.org")
    await portal.logged_in(patron, portal.client)
    assert (await _reset(portal.client, path)).status_code == 303
    assert (await portal.client.get("/card")).headers["location"] == "/login?next=/card"


async def test_the_link_works_only_once(portal: Portal) -> None:
    patron = await portal.patron(email="once@example.org")
    path = await _link(portal, "once@example.org")
    assert (await _reset(portal.client, path)).status_code == 303
    again = await _reset(await portal.browser(), path, "Second-Attempt-Lake-31")
    assert again.status_code >= 400
    assert alert(again.text) == translate("da", INVALID)
    assert 'href="/forgot-password"' in again.text
    assert await password_valid(portal.runtime, patron.id, NEW_PASSWORD)


async def test_an_expired_link_is_refused(portal: Portal) -> None:
    patron = await portal.patron(email="late@example.org")
    path = await _link(portal, "late@example.org")
    async with portal.runtime.unit(readonly=True) as ctx:
        institution = await ctx.session.get(Institution, portal.world.institution_id)
        assert institution is not None
        minutes = institution.password_reset_minutes
    portal.clock.advance(timedelta(minutes=minutes, seconds=1))
    response = await _reset(portal.client, path)
    assert response.status_code >= 400
    assert alert(response.text) == translate("da", INVALID)
    assert await password_valid(portal.runtime, patron.id, PASSWORD)


async def test_a_link_still_valid_just_before_it_expires(portal: Portal) -> None:
    patron = await portal.patron(email="intime@example.org")
    path = await _link(portal, "intime@example.org")
    portal.clock.advance(timedelta(minutes=59))
    assert (await _reset(portal.client, path)).status_code == 303
    assert await password_valid(portal.runtime, patron.id, NEW_PASSWORD)


async def test_a_made_up_link_is_refused(portal: Portal) -> None:
    response = await _reset(portal.client, "/reset-password/not-a-real-token")
    assert response.status_code >= 400
    assert alert(response.text) == translate("da", INVALID)


async def test_a_weak_or_mismatched_new_password_keeps_the_link(portal: Portal) -> None:
    patron = await portal.patron(email="careful@example.org")
    path = await _link(portal, "careful@example.org")
    mismatch = await _reset(portal.client, path, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert alert(mismatch.text) == translate("da", "The two passwords are not the same.")
    weak = await _reset(portal.client, path, "password12")
    assert weak.status_code == 422
    assert alert(weak.text)
    assert await password_valid(portal.runtime, patron.id, PASSWORD)
    assert (await _reset(portal.client, path)).status_code == 303


async def test_asking_again_and_again_mails_no_more_than_three_links(portal: Portal) -> None:
    await portal.patron(email="flood@example.org")
    for _ in range(5):
        page = await portal.client.get("/forgot-password")
        await portal.client.post(
            "/forgot-password", data={"email": "flood@example.org", "csrf": csrf(page.text)}
        )
    assert len(await mails_to(portal.runtime, "flood@example.org")) == 3
