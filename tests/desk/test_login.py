"""Staff login at the desk: password, then authenticator code; enrolment, recovery codes,
throttles, sessions apart from the portal's, and the role shown in what a user may reach."""

from __future__ import annotations

from datetime import timedelta

from libcard.staff import totp
from tests.desk.conftest import SESSION_COOKIE, DeskHarness, audit_events, page_form
from tests.portal.conftest import alert, csrf


async def test_first_login_enrols_the_authenticator_and_shows_recovery_codes(
    desk: DeskHarness,
) -> None:
    user = await desk.staff("desk")
    client = await desk.logged_in(user)
    assert len(user.recovery_codes) == 10
    home = await client.get("/desk")
    assert home.status_code == 200
    assert "Sam Desk" in home.text
    assert "Main Library" in home.text
    assert SESSION_COOKIE in client.cookies
    [event] = await audit_events(desk.runtime, "staff:log_in")
    assert event.actor_id == f"staff:{user.id}"
    assert event.branch_id == desk.branch_id


async def test_the_password_alone_opens_no_desk_page(desk: DeskHarness) -> None:
    user = await desk.staff("admin")
    await desk.logged_in(user, await desk.browser())  # enrolled
    client = await desk.browser()
    step = await desk.password_step(user, client)
    assert step.headers["location"].startswith("/desk/second-factor")
    for path in ("/desk", "/desk/account", "/desk/admin"):
        page = await client.get(path)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/desk/login")


async def test_a_wrong_code_is_refused_and_a_used_code_does_not_work_twice(
    desk: DeskHarness,
) -> None:
    user = await desk.staff("desk")
    await desk.logged_in(user, await desk.browser())
    client = await desk.browser()
    await desk.password_step(user, client)
    page = await client.get("/desk/second-factor")
    wrong = await client.post(
        "/desk/second-factor", data={"code": "000000", "csrf": csrf(page.text)}
    )
    assert wrong.status_code == 401
    assert alert(wrong.text) == "The code is wrong or has been used already."
    # The code of the step in which the enrolment was confirmed was used then.
    replay = await client.post(
        "/desk/second-factor", data={"code": desk.code(user), "csrf": csrf(page.text)}
    )
    assert replay.status_code == 401


async def test_a_recovery_code_works_once(desk: DeskHarness) -> None:
    user = await desk.staff("desk")
    await desk.logged_in(user, await desk.browser())
    first = await desk.browser()
    await desk.password_step(user, first)
    page = await first.get("/desk/second-factor")
    ok = await first.post(
        "/desk/second-factor", data={"code": user.recovery_codes[0], "csrf": csrf(page.text)}
    )
    assert ok.status_code == 303
    second = await desk.browser()
    await desk.password_step(user, second)
    page = await second.get("/desk/second-factor")
    again = await second.post(
        "/desk/second-factor", data={"code": user.recovery_codes[0], "csrf": csrf(page.text)}
    )
    assert again.status_code == 401


async def test_codes_are_throttled_per_user(desk: DeskHarness) -> None:
    user = await desk.staff("desk")
    await desk.logged_in(user, await desk.browser())
    client = await desk.browser()
    await desk.password_step(user, client)
    page = await client.get("/desk/second-factor")
    for _ in range(5):
        await client.post("/desk/second-factor", data={"code": "123456", "csrf": csrf(page.text)})
    desk.clock.advance(timedelta(seconds=totp.STEP_SECONDS))
    refused = await client.post(
        "/desk/second-factor", data={"code": desk.code(user), "csrf": csrf(page.text)}
    )
    assert refused.status_code == 429


async def test_wrong_password_and_unknown_user_read_the_same_and_are_throttled(
    desk: DeskHarness,
) -> None:
    user = await desk.staff("desk")
    client = await desk.browser()
    wrong = await desk.password_step(user, client, password="not-the-password-at-all")
    page = await client.get("/desk/login")
    unknown = await client.post(
        "/desk/login",
        data={"username": "nobody-here", "password": "whatever-it-is", "csrf": csrf(page.text)},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert alert(wrong.text) == alert(unknown.text) == "The user name or password is wrong."
    for _ in range(4):
        await desk.password_step(user, client, password="still-not-the-password")
    right = await desk.password_step(user, client)
    assert right.status_code == 429


async def test_a_portal_session_is_no_desk_session(desk: DeskHarness) -> None:
    patron = await desk.world.patron()
    client = await desk.browser()
    page = await client.get("/login")
    await client.post(
        "/login",
        data={"login": patron.ecard, "password": patron.password, "csrf": csrf(page.text)},
    )
    assert (await client.get("/card")).status_code == 200
    desk_page = await client.get("/desk")
    assert desk_page.status_code == 303
    assert desk_page.headers["location"].startswith("/desk/login")


async def test_log_out_ends_the_session(desk: DeskHarness) -> None:
    user = await desk.staff("desk")
    client = await desk.logged_in(user)
    stolen_cookie = client.cookies[SESSION_COOKIE]
    out = await page_form(client, "/desk", "/desk/logout", {})
    assert out.headers["location"] == "/desk/login?done=out"
    thief = await desk.browser()
    thief.cookies.set(SESSION_COOKIE, stolen_cookie, domain="testserver.local")
    assert (await thief.get("/desk")).status_code == 303


async def test_a_temporary_password_must_be_replaced_first(desk: DeskHarness) -> None:
    user = await desk.staff("desk", must_change_password=True)
    client = await desk.logged_in(user)
    home = await client.get("/desk")
    assert home.status_code == 303
    assert home.headers["location"] == "/desk/account"
    changed = await page_form(
        client,
        "/desk/account",
        "/desk/account/password",
        {
            "current": user.password,
            "new": "Quiet-Stacks-Autumn-19",
            "repeat": "Quiet-Stacks-Autumn-19",
        },
    )
    assert changed.status_code == 303
    assert (await client.get("/desk")).status_code == 200


async def test_a_desk_user_sees_no_administration(desk: DeskHarness) -> None:
    desk_user = await desk.staff("desk")
    client = await desk.logged_in(desk_user)
    home = await client.get("/desk")
    assert "/desk/admin" not in home.text
    admin = await desk.staff("admin")
    admin_client = await desk.logged_in(admin)
    assert "/desk/admin" in (await admin_client.get("/desk")).text
