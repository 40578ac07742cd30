"""Logging in (R7): by e-mail or card number, one answer for every failure, a limit on
guessing, and a session cookie that is new at every login and out of reach of scripts."""

from __future__ import annotations

import re
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
from sqlalchemy import select

from libcard.access.models import PortalSession, Throttle
from libcard.cards.rules import make_card_number
from libcard.kit.i18n import translate
from tests.portal.conftest import (
    PASSWORD,
    SESSION_COOKIE,
    VISIT_COOKIE,
    Portal,
    alert,
    csrf,
    login,
    mails_to,
    main_part,
    post_form,
)

LOGIN_FAILED = "The card number, e-mail or password is wrong."
TOO_MANY = "Too many failed attempts. Wait a quarter of an hour, then try again."


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """Each Set-Cookie of a response: name → {"value": …, attribute (lower case): value}."""
    headers = response.headers.get_list("set-cookie")
    found: dict[str, dict[str, str]] = {}
    for header in headers:
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            attributes = {k.lower(): str(v) for k, v in morsel.items() if v}
            flags = {part.strip().lower() for part in header.split(";")[1:]}
            attributes.update({flag: "yes" for flag in flags if "=" not in flag})
            found[name] = {"value": morsel.value, **attributes}
    return found


async def test_a_patron_logs_in_with_the_e_mail_address(portal: Portal) -> None:
    patron = await portal.patron(first_name="Ingrid", last_name="Brask", email="ib@example.org")
    response = await login(portal.client, "IB@Example.org ", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/card"
    card = await portal.client.get("/card")
    assert card.status_code == 200
    assert "Ingrid Brask" in card.text
    assert f'<p id="card-number" class="ecard-number">{patron.ecard}</p>' in card.text


async def test_a_patron_logs_in_with_the_card_number_typed_with_spaces(portal: Portal) -> None:
    patron = await portal.patron(first_name="Ole", last_name="Vinther")
    spaced = " ".join(patron.ecard[i : i + 4] for i in range(0, len(patron.ecard), 4))
    response = await login(portal.client, spaced, PASSWORD)
    assert response.status_code == 303
    assert "Ole Vinther" in (await portal.client.get("/card")).text


async def test_login_returns_to_the_page_asked_for(portal: Portal) -> None:
    patron = await portal.patron()
    away = await portal.client.get("/overview")
    assert away.headers["location"] == "/login?next=/overview"
    page = await portal.client.get(away.headers["location"])
    assert 'name="next" value="/overview"' in page.text
    response = await portal.client.post(
        "/login",
        data={
            "login": patron.ecard,
            "password": PASSWORD,
            "csrf": csrf(page.text),
            "next": "/overview",
        },
    )
    assert response.headers["location"] == "/overview"


async def test_login_never_sends_the_patron_to_another_site(portal: Portal) -> None:
    patron = await portal.patron()
    for target in ("https://evil.example/", "//evil.example/card", "/\\evil.example"):
        browser = await portal.browser()
        response = await login(browser, patron.ecard, PASSWORD, next=target)
        assert response.headers["location"] == "/card", target


async def test_wrong_password_and_unknown_address_get_the_same_answer(portal: Portal) -> None:
    await portal.patron(email="known@example.org")
    client = portal.client
    page = await client.get("/login")
    token = csrf(page.text)
    wrong = await client.post(
        "/login",
        data={"login": "known@example.org", "password": "Not-My-Password-1", "csrf": token},
    )
    unknown = await client.post(
        "/login",
        data={"login": "nobody@example.org", "password": "Not-My-Password-1", "csrf": token},
    )
    assert wrong.status_code == unknown.status_code
    assert wrong.status_code in (401, 403)
    assert alert(wrong.text) == alert(unknown.text) == translate("da", LOGIN_FAILED)
    assert main_part(wrong.text).replace("known@", "X@") == main_part(unknown.text).replace(
        "nobody@", "X@"
    )
    assert SESSION_COOKIE not in client.cookies


async def test_a_wrong_card_number_is_answered_like_a_wrong_password(portal: Portal) -> None:
    patron = await portal.patron()
    wrong_password = await login(portal.client, patron.ecard, "Not-My-Password-1")
    unknown_card = await login(portal.client, make_card_number("2770", 99_999, 14), PASSWORD)
    assert wrong_password.status_code == unknown_card.status_code
    assert alert(wrong_password.text) == alert(unknown_card.text)


async def test_after_ten_failures_even_the_right_password_is_refused(portal: Portal) -> None:
    patron = await portal.patron(email="guessed@example.org")
    for _ in range(10):
        failed = await login(portal.client, "guessed@example.org", "Not-My-Password-1")
        assert alert(failed.text) == translate("da", LOGIN_FAILED)
    # A fresh browser (new cookies, new request): the count was committed, not rolled back.
    fresh = await portal.browser()
    refused = await login(fresh, "guessed@example.org", PASSWORD)
    assert refused.status_code == 429
    assert alert(refused.text) == translate("da", TOO_MANY)
    assert SESSION_COOKIE not in fresh.cookies
    async with portal.runtime.unit(readonly=True) as ctx:
        row = await ctx.session.get(Throttle, "login:guessed@example.org")
    assert row is not None
    assert row.failures == 10
    # The failures count against the account too: its card number is no way around the limit.
    by_card = await login(fresh, patron.ecard, PASSWORD)
    assert by_card.status_code == 429
    assert alert(by_card.text) == translate("da", TOO_MANY)


async def test_an_account_not_activated_cannot_log_in(portal: Portal) -> None:
    patron = await portal.world.patron(activate=False, email="new@example.org")
    for name in (patron.ecard, "new@example.org"):
        response = await login(portal.client, name, PASSWORD)
        assert response.status_code != 303
        assert alert(response.text) == translate("da", LOGIN_FAILED)
    assert (await portal.client.get("/card")).status_code == 303


async def test_the_session_cookie_is_out_of_reach_of_scripts_and_other_sites(
    portal: Portal,
) -> None:
    patron = await portal.patron()
    response = await login(portal.client, patron.ecard, PASSWORD)
    cookie = set_cookies(response)[SESSION_COOKIE]
    assert cookie["httponly"] == "yes"
    assert cookie["secure"] == "yes"
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "domain" not in cookie  # a __Host- cookie may not name a domain
    assert "max-age" not in cookie
    assert "expires" not in cookie
    assert len(cookie["value"]) >= 32


async def test_every_login_starts_a_new_session(portal: Portal) -> None:
    patron = await portal.patron()
    client = portal.client
    page = await client.get("/login")
    assert VISIT_COOKIE in set_cookies(page)
    first = await login(client, patron.ecard, PASSWORD)
    cookies = set_cookies(first)
    # The pre-login cookie is dropped: the session does not grow out of it.
    assert cookies[VISIT_COOKIE]["value"] == ""
    assert cookies[VISIT_COOKIE]["max-age"] == "0"
    first_secret = cookies[SESSION_COOKIE]["value"]
    card = await client.get("/card")
    logout = await client.post("/logout", data={"csrf": csrf(card.text)})
    assert logout.headers["location"] == "/login?done=out"
    second = await login(client, patron.ecard, PASSWORD)
    second_secret = set_cookies(second)[SESSION_COOKIE]["value"]
    assert second_secret != first_secret
    async with portal.runtime.unit(readonly=True) as ctx:
        query = select(PortalSession).order_by(PortalSession.id)
        sessions = (await ctx.session.scalars(query)).all()
    assert len(sessions) == 2
    assert [s.ended_at is not None for s in sessions] == [True, False]
    assert all(first_secret not in s.digest and second_secret not in s.digest for s in sessions)


async def test_a_logged_out_session_cookie_is_worth_nothing(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    stolen = client.cookies[SESSION_COOKIE]
    card = await client.get("/card")
    await client.post("/logout", data={"csrf": csrf(card.text)})
    assert (await client.get("/card")).headers["location"] == "/login?next=/card"
    thief = await portal.browser()
    thief.cookies.set(SESSION_COOKIE, stolen, domain="testserver.local")
    assert (await thief.get("/card")).headers["location"] == "/login?next=/card"


async def test_a_session_ends_after_an_hour_without_a_page(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    portal.clock.advance(timedelta(minutes=59))
    assert (await client.get("/card")).status_code == 200
    portal.clock.advance(timedelta(minutes=59))
    assert (await client.get("/card")).status_code == 200
    portal.clock.advance(timedelta(minutes=61))
    assert (await client.get("/card")).headers["location"] == "/login?next=/card"


async def test_a_session_ends_after_twelve_hours_however_busy(portal: Portal) -> None:
    patron = await portal.patron()
    client = await portal.logged_in(patron)
    for _ in range(23):  # a page every half hour keeps it from idling out ...
        portal.clock.advance(timedelta(minutes=30))
        assert (await client.get("/card")).status_code == 200
    portal.clock.advance(timedelta(minutes=30))  # ... but not beyond 12 hours
    assert (await client.get("/card")).headers["location"] == "/login?next=/card"


async def test_a_password_reset_lets_a_locked_out_patron_in_again(portal: Portal) -> None:
    patron = await portal.patron(email="locked@example.org")
    for _ in range(10):
        await login(portal.client, patron.ecard, "Not-My-Password-1")
    assert (await login(portal.client, patron.ecard, PASSWORD)).status_code == 429
    await post_form(portal.client, "/forgot-password", {"email": "locked@example.org"})
    [mail] = await mails_to(portal.runtime, "locked@example.org")
    link = re.search(r"/reset-password/\S+", mail.body)
    assert link is not None
    new = "Fresh-Start-Orchard-27"
    reset = await post_form(portal.client, link.group(0), {"password": new, "password_repeat": new})
    assert reset.status_code == 303
    assert (await login(portal.client, patron.ecard, new)).status_code == 303
