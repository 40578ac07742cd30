"""Administration of access at the desk: API tokens and staff users; and who may reach the
administration at all (admins only, and only their own institution's rows)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import select

from libcard.access.models import ApiToken
from libcard.audit.models import AuditEvent
from libcard.staff.models import StaffUser
from libcard.staff.service import get_staff
from libcard.web.desk.router import ROUTE_MODULES
from tests.api.conftest import API, bearer
from tests.desk.conftest import DeskHarness, StaffHandle, audit_events, page_form
from tests.desk.test_admin_policy import form_values, signed_in, submit
from tests.portal.conftest import alert, csrf, main_part

_TOKEN = re.compile(r'<dd class="secret" id="token-secret">(lct_[A-Za-z0-9_-]+)</dd>')
_STAFF_PASSWORD = re.compile(r'<dd class="secret" id="staff-password">([A-Za-z0-9-]+)</dd>')
_TERMINAL_PASSWORD = re.compile(r'<dd class="secret" id="terminal-password">([A-Za-z0-9]+)</dd>')


async def _admin(desk: DeskHarness) -> tuple[StaffHandle, httpx.AsyncClient]:
    admin = await desk.staff("admin")
    return admin, await signed_in(desk, admin)


async def _new_token(client: httpx.AsyncClient, **changes: str | None) -> tuple[int, str]:
    answer = await submit(
        client,
        "/desk/admin/tokens/new",
        "/desk/admin/tokens",
        {
            "name": "Catalogue, production",
            "actor_kind": "service",
            "scope.policy:read": "1",
            "scope.cards:status": "1",
            "valid_days": "30",
            "reason": "Catalogue go-live",
            **changes,
        },
    )
    assert answer.status_code == 200, answer.text
    assert "shown only now" in answer.text
    found = _TOKEN.search(answer.text)
    assert found, main_part(answer.text)
    link = re.search(r'href="/desk/admin/tokens/(\d+)"', main_part(answer.text))
    assert link
    return int(link.group(1)), found.group(1)


async def _new_staff(client: httpx.AsyncClient, username: str, **changes: str) -> str:
    answer = await submit(
        client,
        "/desk/admin/staff/new",
        "/desk/admin/staff",
        {
            "username": username,
            "display_name": "Jonas Berg",
            "email": "jonas@nordby.example",
            "role": "desk",
            "reason": "Started Monday",
            **changes,
        },
    )
    assert answer.status_code == 200, answer.text
    assert "shown only now" in answer.text
    found = _STAFF_PASSWORD.search(answer.text)
    assert found, main_part(answer.text)
    return found.group(1)


async def _staff_named(desk: DeskHarness, username: str) -> StaffUser:
    async with desk.runtime.unit(readonly=True) as ctx:
        staff = await ctx.session.scalar(select(StaffUser).where(StaffUser.username == username))
    assert staff is not None
    return staff


# API tokens


async def test_a_new_token_works_against_the_api_until_revoked(desk: DeskHarness) -> None:
    admin, client = await _admin(desk)
    token_id, secret = await _new_token(client)
    api = await desk.browser()
    answer = await api.get(f"{API}/institutions", headers=bearer(secret))
    assert answer.status_code == 200, answer.text
    assert [i["id"] for i in answer.json()] == [desk.world.institution_id]
    async with desk.runtime.unit(readonly=True) as ctx:
        token = await ctx.session.get(ApiToken, token_id)
    assert token is not None
    assert (token.institution_id, token.actor_kind, token.scopes) == (
        desk.world.institution_id,
        "service",
        ["cards:status", "policy:read"],
    )
    assert token.expires_at is not None
    assert token.expires_at - token.created_at == timedelta(days=30)
    listing = await client.get("/desk/admin/tokens")
    assert "Catalogue, production" in listing.text
    assert "Active" in listing.text
    assert secret not in listing.text
    page = f"/desk/admin/tokens/{token_id}"
    assert secret not in (await client.get(page)).text
    revoked = await submit(client, page, f"{page}/revoke", {"reason": "Vendor changed"})
    assert revoked.headers["location"] == f"{page}?done=revoked"
    refused = await api.get(f"{API}/institutions", headers=bearer(secret))
    assert refused.status_code == 401
    shown = await client.get(revoked.headers["location"])
    assert "The token is revoked" in shown.text
    assert "Revoked" in shown.text
    assert f'action="{page}/revoke"' not in shown.text
    [made] = await audit_events(desk.runtime, "token:create")
    [gone] = await audit_events(desk.runtime, "token:revoke")
    assert made.actor_id == gone.actor_id == f"staff:{admin.id}"
    assert made.reason == "Catalogue go-live"
    assert gone.reason == "Vendor changed"
    assert secret not in str(made.details)
    # A second revocation keeps the first one's time and event.
    again = await client.post(f"{page}/revoke", data={"csrf": csrf(shown.text)})
    assert again.status_code == 303
    assert len(await audit_events(desk.runtime, "token:revoke")) == 1


async def test_a_token_without_scopes_or_as_libcard_itself_is_refused(desk: DeskHarness) -> None:
    _, client = await _admin(desk)
    no_scope = await submit(
        client,
        "/desk/admin/tokens/new",
        "/desk/admin/tokens",
        {"name": "Nothing at all", "actor_kind": "service"},
    )
    assert no_scope.status_code == 422
    assert alert(no_scope.text) == "Tick at least one thing the token may do."
    assert form_values(no_scope.text, "/desk/admin/tokens")["name"] == "Nothing at all"
    for kind in ("system", "patron"):
        refused = await submit(
            client,
            "/desk/admin/tokens/new",
            "/desk/admin/tokens",
            {"name": "Root", "actor_kind": kind, "scope.tokens:write": "1"},
        )
        assert refused.status_code == 422
        assert alert(refused.text) == "Used by: choose one of the options."
        kept = form_values(refused.text, "/desk/admin/tokens")
        assert kept["scope.tokens:write"] == "1"
    assert 'value="system"' not in no_scope.text
    assert await audit_events(desk.runtime, "token:create") == []


# Staff users


async def test_a_new_staff_user_logs_in_with_the_temporary_password_and_must_change_it(
    desk: DeskHarness,
) -> None:
    admin, client = await _admin(desk)
    password = await _new_staff(client, "jonas", branch=str(desk.branch_id))
    staff = await _staff_named(desk, "jonas")
    assert (staff.role, staff.branch_id, staff.email, staff.must_change_password) == (
        "desk",
        desk.branch_id,
        "jonas@nordby.example",
        True,
    )
    listing = await client.get("/desk/admin/staff")
    assert f'href="/desk/admin/staff/{staff.id}">Jonas Berg</a>' in listing.text
    assert "Has a temporary password" in listing.text
    assert password not in listing.text
    handle = StaffHandle(staff.id, "jonas", password, desk.world.institution_id, desk.branch_id)
    newcomer = await signed_in(desk, handle)
    sent = await newcomer.get("/desk")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/desk/account"
    [event] = [
        e for e in await audit_events(desk.runtime, "staff:create") if e.subject_id == str(staff.id)
    ]
    assert event.actor_id == f"staff:{admin.id}"
    assert event.reason == "Started Monday"
    assert password not in str(event.details)
    taken = await submit(
        client,
        "/desk/admin/staff/new",
        "/desk/admin/staff",
        {"username": "jonas", "display_name": "Another Jonas", "role": "desk"},
    )
    assert taken.status_code == 409
    assert alert(taken.text) == "This user name is taken. Choose another."
    assert form_values(taken.text, "/desk/admin/staff")["display_name"] == "Another Jonas"
    assert "staff-password" not in taken.text


async def test_a_staff_user_is_changed_disabled_and_enabled(desk: DeskHarness) -> None:
    _, client = await _admin(desk)
    user = await desk.staff("desk")
    await signed_in(desk, user)
    page = f"/desk/admin/staff/{user.id}"
    saved = await submit(
        client,
        page,
        page,
        {"role": "supervisor", "branch": "", "display_name": "Sam Olsen", "language": "de"},
    )
    assert saved.headers["location"] == f"{page}?done=saved"
    async with desk.runtime.unit(readonly=True) as ctx:
        staff = await get_staff(ctx, user.id)
    assert (staff.role, staff.branch_id, staff.display_name, staff.preferred_language) == (
        "supervisor",
        None,
        "Sam Olsen",
        "de",
    )
    bad_mail = await submit(client, page, page, {"email": "not an address"})
    assert bad_mail.status_code == 422
    assert 'id="email" name="email" type="email" value="not an address"' in bad_mail.text
    disabled = await submit(client, page, f"{page}/disable", {"reason": "Left the library"})
    assert disabled.headers["location"] == f"{page}?done=disabled"
    refused = await desk.password_step(user, await desk.browser())
    assert refused.status_code == 401
    enabled = await submit(client, page, f"{page}/enable", {})
    assert enabled.headers["location"] == f"{page}?done=enabled"
    assert (await desk.password_step(user, await desk.browser())).status_code == 303


async def test_an_admin_cannot_demote_or_disable_themselves(desk: DeskHarness) -> None:
    admin, client = await _admin(desk)
    page = f"/desk/admin/staff/{admin.id}"
    shown = await client.get(page)
    assert f'action="{page}/disable"' not in shown.text
    demoted = await submit(client, page, page, {"role": "desk"})
    assert demoted.status_code == 409
    assert alert(demoted.text) == (
        "You cannot take the administrator role from yourself. Ask another administrator."
    )
    assert form_values(demoted.text, page)["role"] == "desk"
    disabled = await client.post(f"{page}/disable", data={"csrf": csrf(shown.text)})
    assert disabled.status_code == 409
    assert alert(disabled.text) == "You cannot disable your own user. Ask another administrator."
    own_password = await client.post(
        f"{page}/password", data={"csrf": csrf(shown.text), "reason": "Forgot"}
    )
    assert own_password.status_code == 409
    assert "staff-password" not in own_password.text
    staff = await _staff_named(desk, admin.username)
    assert (staff.role, staff.disabled_at) == ("admin", None)
    assert (await client.get("/desk/admin")).status_code == 200


async def test_a_temporary_password_and_a_second_factor_reset(desk: DeskHarness) -> None:
    _, client = await _admin(desk)
    user = await desk.staff("desk")
    user_browser = await signed_in(desk, user)
    page = f"/desk/admin/staff/{user.id}"
    no_reason = await submit(client, page, f"{page}/password", {})
    assert no_reason.status_code == 422
    assert "staff-password" not in no_reason.text
    answer = await submit(client, page, f"{page}/password", {"reason": "Forgot it, ID seen"})
    assert answer.status_code == 200
    found = _STAFF_PASSWORD.search(answer.text)
    assert found
    # Logged out everywhere; the old password is gone, the new one must be replaced.
    assert (await user_browser.get("/desk")).status_code == 303
    assert (await desk.password_step(user, await desk.browser())).status_code == 401
    user.password = found.group(1)
    again = await signed_in(desk, user)
    assert (await again.get("/desk")).headers["location"] == "/desk/account"
    [event] = await audit_events(desk.runtime, "staff:set_temporary_password")
    assert event.reason == "Forgot it, ID seen"
    reset = await submit(client, page, f"{page}/second-factor", {"reason": "Phone lost"})
    assert reset.headers["location"] == f"{page}?done=second_factor"
    assert (await _staff_named(desk, user.username)).totp_enrolled_at is None
    step = await desk.password_step(user, await desk.browser())
    assert step.headers["location"].startswith("/desk/enrol")
    assert "Not set up yet" in (await client.get(page)).text


# Who may reach the administration


async def _every_admin_route(desk: DeskHarness) -> list[tuple[str, str]]:
    """(method, path) of every administration route, with ids of real rows filled in."""
    _, client = await _admin(desk)
    token_id, _ = await _new_token(client)
    terminal = await submit(
        client,
        "/desk/admin/terminals/new",
        "/desk/admin/terminals",
        {"branch": str(desk.branch_id), "login": "sco-1", "name": "By the door"},
    )
    found = re.search(r'href="/desk/admin/terminals/(\d+)"', main_part(terminal.text))
    assert found
    staff = await desk.staff("desk")
    ids = {
        "{group_id}": str(desk.world.groups["external"]),
        "{branch_id}": str(desk.branch_id),
        "{terminal_id}": found.group(1),
        "{token_id}": str(token_id),
        "{staff_id}": str(staff.id),
    }
    routes = []
    every = [route for module in ROUTE_MODULES for route in module.router.routes]
    for route in every:
        if isinstance(route, APIRoute) and route.path.startswith("/desk/admin"):
            path = route.path
            for placeholder, value in ids.items():
                path = path.replace(placeholder, value)
            assert "{" not in path, path
            routes += [(method, path) for method in sorted(route.methods or ())]
    return routes


async def test_desk_and_supervisor_users_are_refused_every_administration_route(
    desk: DeskHarness,
) -> None:
    routes = await _every_admin_route(desk)
    assert len(routes) >= 30
    assert ("POST", "/desk/admin/institution") in routes
    before = len(await audit_events(desk.runtime, "policy:update"))
    for role in ("desk", "supervisor"):
        client = await signed_in(desk, await desk.staff(role))
        token = csrf((await client.get("/desk")).text)
        assert "/desk/admin" not in (await client.get("/desk")).text
        for method, path in routes:
            data = {"csrf": token, "name": "Mine", "reason": "x"} if method == "POST" else None
            answer = await client.request(method, path, data=data)
            assert answer.status_code == 403, (role, method, path)
            assert alert(answer.text).startswith("Your role does not allow this.")
    assert len(await audit_events(desk.runtime, "policy:update")) == before
    assert await audit_events(desk.runtime, "token:revoke") == []


async def test_another_institutions_tokens_and_staff_are_not_found(desk: DeskHarness) -> None:
    _, client = await _admin(desk)
    token_id, secret = await _new_token(client)
    ours = await desk.staff("desk")
    other_institution, _ = await desk.other_institution()
    theirs = await signed_in(desk, await desk.staff("admin", institution_id=other_institution))
    token = csrf((await theirs.get("/desk/admin")).text)
    for path in (f"/desk/admin/tokens/{token_id}", f"/desk/admin/staff/{ours.id}"):
        assert (await theirs.get(path)).status_code == 404, path
    for path in (
        f"/desk/admin/tokens/{token_id}/revoke",
        f"/desk/admin/staff/{ours.id}",
        f"/desk/admin/staff/{ours.id}/disable",
        f"/desk/admin/staff/{ours.id}/password",
        f"/desk/admin/staff/{ours.id}/second-factor",
    ):
        answer = await theirs.post(path, data={"csrf": token, "role": "admin", "reason": "x"})
        assert answer.status_code == 404, path
        assert "staff-password" not in answer.text
    assert "Catalogue" not in (await theirs.get("/desk/admin/tokens")).text
    assert ours.username not in (await theirs.get("/desk/admin/staff")).text
    api = await desk.browser()
    assert (await api.get(f"{API}/institutions", headers=bearer(secret))).status_code == 200
    staff = await _staff_named(desk, ours.username)
    assert (staff.role, staff.disabled_at, staff.must_change_password) == ("desk", None, False)
    # What the other admin creates belongs to their institution.
    made = await page_form(
        theirs,
        "/desk/admin/tokens/new",
        "/desk/admin/tokens",
        {"name": "Sydby app", "actor_kind": "service", "scope.policy:read": "1"},
    )
    other_secret = _TOKEN.search(made.text)
    assert other_secret
    seen = await api.get(f"{API}/institutions", headers=bearer(other_secret.group(1)))
    assert [i["id"] for i in seen.json()] == [other_institution]


async def test_forms_without_their_csrf_token_change_nothing(desk: DeskHarness) -> None:
    _, client = await _admin(desk)
    user = await desk.staff("desk")
    token_id, _ = await _new_token(client)
    attempts = {
        "/desk/admin/tokens": {"name": "Sneaky", "actor_kind": "admin", "scope.tokens:write": "1"},
        f"/desk/admin/tokens/{token_id}/revoke": {},
        "/desk/admin/staff": {"username": "sneaky", "display_name": "S", "role": "admin"},
        f"/desk/admin/staff/{user.id}": {"role": "admin", "display_name": "Boss"},
        f"/desk/admin/staff/{user.id}/password": {"reason": "x"},
        f"/desk/admin/staff/{user.id}/second-factor": {"reason": "x"},
        f"/desk/admin/staff/{user.id}/disable": {},
    }
    for path, data in attempts.items():
        answer = await client.post(path, data=data)
        assert answer.status_code == 403, path
        assert 'class="secret"' not in answer.text, path
    async with desk.runtime.unit(readonly=True) as ctx:
        token = await ctx.session.get(ApiToken, token_id)
        assert token is not None
        assert token.revoked_at is None
        names = (await ctx.session.scalars(select(StaffUser.username))).all()
    assert "sneaky" not in names
    staff = await _staff_named(desk, user.username)
    assert (staff.role, staff.display_name, staff.disabled_at) == ("desk", "Sam Desk", None)
    assert len(await audit_events(desk.runtime, "token:create")) == 1


async def test_no_secret_reaches_the_audit_log(desk: DeskHarness) -> None:
    _, client = await _admin(desk)
    secrets: list[str] = []
    _, token_secret = await _new_token(client)
    secrets.append(token_secret)
    secrets.append(await _new_staff(client, "nina"))
    nina = await _staff_named(desk, "nina")
    answer = await submit(
        client,
        f"/desk/admin/staff/{nina.id}",
        f"/desk/admin/staff/{nina.id}/password",
        {"reason": "Lost the note"},
    )
    found = _STAFF_PASSWORD.search(answer.text)
    assert found
    secrets.append(found.group(1))
    terminal = await submit(
        client,
        "/desk/admin/terminals/new",
        "/desk/admin/terminals",
        {"branch": str(desk.branch_id), "login": "sco-audit", "name": "Audit machine"},
    )
    found = _TERMINAL_PASSWORD.search(terminal.text)
    assert found
    secrets.append(found.group(1))
    terminal_id = re.search(r'href="/desk/admin/terminals/(\d+)"', main_part(terminal.text))
    assert terminal_id
    page = f"/desk/admin/terminals/{terminal_id.group(1)}"
    reset = await submit(client, page, f"{page}/password", {})
    found = _TERMINAL_PASSWORD.search(reset.text)
    assert found
    secrets.append(found.group(1))
    assert len(set(secrets)) == 5
    async with desk.runtime.unit(readonly=True) as ctx:
        events = (await ctx.session.scalars(select(AuditEvent))).all()
    actions = {event.action for event in events}
    for action in (
        "token:create",
        "staff:create",
        "staff:set_temporary_password",
        "terminal:create",
        "terminal:reset_password",
    ):
        assert action in actions
    for event in events:
        written = f"{event.details} {event.reason} {event.actor_label}"
        for secret in secrets:
            assert secret not in written, event.action
        assert "argon2" not in written
