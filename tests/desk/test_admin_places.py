"""Administration of branches and self-checkout terminals at the desk."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from libcard.errors import WrongSecret
from libcard.policy.branches import get_branch, get_terminal, terminal_login
from libcard.policy.models import Terminal
from libcard.runtime import Runtime
from tests.desk.conftest import DeskHarness, audit_events
from tests.desk.test_admin_policy import form_values, signed_in, submit
from tests.portal.conftest import alert, csrf, main_part

_PASSWORD = re.compile(r'<dd class="secret" id="terminal-password">([A-Za-z0-9]+)</dd>')


async def _admin(desk: DeskHarness) -> httpx.AsyncClient:
    return await signed_in(desk, await desk.staff("admin"))


async def _logs_in(runtime: Runtime, login: str, password: str) -> bool:
    try:
        async with runtime.unit() as ctx:
            await terminal_login(ctx, login, password)
    except WrongSecret:
        return False
    return True


async def _new_terminal(
    desk: DeskHarness, client: httpx.AsyncClient, login: str = "sco-main-1"
) -> tuple[int, str, httpx.Response]:
    answer = await submit(
        client,
        "/desk/admin/terminals/new",
        "/desk/admin/terminals",
        {
            "branch": str(desk.branch_id),
            "login": login,
            "name": "Ground floor, by the door",
            "encoding": "latin-1",
            "language": "de",
            "reason": "New machine delivered",
        },
    )
    assert answer.status_code == 200, answer.text
    found = _PASSWORD.search(answer.text)
    assert found, main_part(answer.text)
    async with desk.runtime.unit(readonly=True) as ctx:
        terminal_id = await ctx.session.scalar(select(Terminal.id).where(Terminal.login == login))
    assert terminal_id is not None
    return terminal_id, found.group(1), answer


async def test_a_branch_is_created_and_a_taken_code_refused(desk: DeskHarness) -> None:
    admin = await desk.staff("admin")
    client = await signed_in(desk, admin)
    made = await submit(
        client,
        "/desk/admin/branches",
        "/desk/admin/branches",
        {"code": "north", "name": "North  Branch", "address": "Nordvej 3", "reason": "Opens May"},
    )
    assert made.status_code == 303
    branch_id = int(made.headers["location"].split("/")[-1].split("?")[0])
    async with desk.runtime.unit(readonly=True) as ctx:
        branch = await get_branch(ctx, branch_id)
    assert (branch.code, branch.name, branch.address, branch.closed_at) == (
        "north",
        "North Branch",
        "Nordvej 3",
        None,
    )
    event = (await audit_events(desk.runtime, "branch:create"))[-1]
    assert event.actor_id == f"staff:{admin.id}"
    assert event.reason == "Opens May"
    listing = await client.get("/desk/admin/branches")
    assert f'href="/desk/admin/branches/{branch_id}">North Branch</a>' in listing.text
    taken = await submit(
        client,
        "/desk/admin/branches",
        "/desk/admin/branches",
        {"code": "north", "name": "Another North"},
    )
    assert taken.status_code == 409
    assert alert(taken.text) == "Another branch of this institution has this code."
    assert form_values(taken.text, "/desk/admin/branches")["name"] == "Another North"
    assert 'id="code" name="code" type="text" value="north" autocomplete="off" required' in (
        taken.text
    )


async def test_a_branch_is_renamed_closed_and_reopened(desk: DeskHarness) -> None:
    client = await _admin(desk)
    page = f"/desk/admin/branches/{desk.branch_id}"
    renamed = await submit(client, page, page, {"name": "Main Library (old town)", "address": ""})
    assert renamed.headers["location"] == f"{page}?done=saved"
    closed = await submit(client, page, f"{page}/close", {"reason": "Building sold"})
    assert closed.headers["location"] == f"{page}?done=closed"
    async with desk.runtime.unit(readonly=True) as ctx:
        branch = await get_branch(ctx, desk.branch_id)
    assert branch.name == "Main Library (old town)"
    assert branch.closed_at is not None
    shown = await client.get(page)
    assert "Closed since" in shown.text
    assert f'action="{page}/reopen"' in shown.text
    # No new machine can be placed at a closed branch; it is not even offered.
    new_page = await client.get("/desk/admin/terminals/new")
    assert f'<option value="{desk.branch_id}"' not in new_page.text
    refused = await client.post(
        "/desk/admin/terminals",
        data={
            "csrf": csrf(new_page.text),
            "branch": str(desk.branch_id),
            "login": "sco-closed",
            "name": "Nowhere",
            "encoding": "cp850",
        },
    )
    assert refused.status_code == 422
    assert alert(refused.text) == "This branch is closed. Choose an open branch."
    reopened = await submit(client, page, f"{page}/reopen", {})
    assert reopened.headers["location"] == f"{page}?done=reopened"
    async with desk.runtime.unit(readonly=True) as ctx:
        assert (await get_branch(ctx, desk.branch_id)).closed_at is None
    [closing, opening] = [
        e
        for e in await audit_events(desk.runtime, "branch:update")
        if "closed" in e.details["fields"]
    ]
    assert closing.reason == "Building sold"
    assert opening.reason is None


async def test_a_new_terminal_shows_its_password_once_and_the_password_works(
    desk: DeskHarness,
) -> None:
    client = await _admin(desk)
    terminal_id, password, answer = await _new_terminal(desk, client)
    assert "shown only now" in answer.text
    assert 'id="terminal-login">sco-main-1<' in answer.text
    assert 'id="terminal-institution">nordby<' in answer.text
    assert 'id="terminal-encoding">latin-1<' in answer.text
    assert await _logs_in(desk.runtime, "sco-main-1", password)
    async with desk.runtime.unit(readonly=True) as ctx:
        terminal = await get_terminal(ctx, terminal_id)
    for path in ("/desk/admin/terminals", f"/desk/admin/terminals/{terminal_id}"):
        page = await client.get(path)
        assert page.status_code == 200
        assert password not in page.text
        assert terminal.password_hash not in page.text
        assert "argon2" not in page.text
        assert "sco-main-1" in page.text
    [event] = await audit_events(desk.runtime, "terminal:create")
    assert event.reason == "New machine delivered"
    assert password not in str(event.details)
    assert "argon2" not in str(event.details)
    assert (terminal.branch_id, terminal.encoding, terminal.language) == (
        desk.branch_id,
        "latin-1",
        "de",
    )


async def test_a_reset_password_replaces_the_old_one(desk: DeskHarness) -> None:
    client = await _admin(desk)
    terminal_id, old, _ = await _new_terminal(desk, client)
    page = f"/desk/admin/terminals/{terminal_id}"
    answer = await submit(client, page, f"{page}/password", {"reason": "Machine reinstalled"})
    assert answer.status_code == 200
    found = _PASSWORD.search(answer.text)
    assert found
    assert found.group(1) != old
    assert "New password for Ground floor, by the door" in answer.text
    assert not await _logs_in(desk.runtime, "sco-main-1", old)
    assert await _logs_in(desk.runtime, "sco-main-1", found.group(1))
    [event] = await audit_events(desk.runtime, "terminal:reset_password")
    assert event.reason == "Machine reinstalled"
    assert found.group(1) not in str(event.details)
    assert old not in str(event.details)


async def test_a_terminal_is_edited_disabled_and_enabled(desk: DeskHarness) -> None:
    client = await _admin(desk)
    terminal_id, password, _ = await _new_terminal(desk, client)
    page = f"/desk/admin/terminals/{terminal_id}"
    saved = await submit(
        client, page, page, {"name": "First floor", "encoding": "utf-8", "language": ""}
    )
    assert saved.headers["location"] == f"{page}?done=saved"
    async with desk.runtime.unit(readonly=True) as ctx:
        terminal = await get_terminal(ctx, terminal_id)
    assert (terminal.name, terminal.encoding, terminal.language) == ("First floor", "utf-8", None)
    refused = await submit(client, page, page, {"encoding": "ebcdic"})
    assert refused.status_code == 422
    assert alert(refused.text) == "Choose one of the encodings."
    disabled = await submit(client, page, f"{page}/disable", {"reason": "Stolen"})
    assert disabled.headers["location"] == f"{page}?done=disabled"
    assert not await _logs_in(desk.runtime, "sco-main-1", password)
    assert "Disabled since" in (await client.get(page)).text
    enabled = await submit(client, page, f"{page}/enable", {})
    assert enabled.headers["location"] == f"{page}?done=enabled"
    assert await _logs_in(desk.runtime, "sco-main-1", password)


async def test_a_taken_login_is_refused_with_the_form_kept(desk: DeskHarness) -> None:
    client = await _admin(desk)
    await _new_terminal(desk, client)
    again = await submit(
        client,
        "/desk/admin/terminals/new",
        "/desk/admin/terminals",
        {"branch": str(desk.branch_id), "login": "sco-main-1", "name": "Second"},
    )
    assert again.status_code == 409
    assert alert(again.text) == "Another machine has this login. Choose another."
    assert form_values(again.text, "/desk/admin/terminals")["name"] == "Second"
    assert "terminal-password" not in again.text


async def test_another_institutions_branches_and_terminals_are_not_found(
    desk: DeskHarness,
) -> None:
    client = await _admin(desk)
    terminal_id, password, _ = await _new_terminal(desk, client)
    other_institution, _ = await desk.other_institution()
    theirs = await signed_in(desk, await desk.staff("admin", institution_id=other_institution))
    token = csrf((await theirs.get("/desk/admin")).text)
    branch = f"/desk/admin/branches/{desk.branch_id}"
    terminal = f"/desk/admin/terminals/{terminal_id}"
    assert (await theirs.get(branch)).status_code == 404
    assert (await theirs.get(terminal)).status_code == 404
    for path in (
        branch,
        f"{branch}/close",
        terminal,
        f"{terminal}/disable",
        f"{terminal}/password",
    ):
        posted = await theirs.post(path, data={"csrf": token, "name": "Ours now"})
        assert posted.status_code == 404, path
        assert "terminal-password" not in posted.text
    assert "sco-main-1" not in (await theirs.get("/desk/admin/terminals")).text
    assert "Main Library" not in main_part((await theirs.get("/desk/admin/branches")).text)
    async with desk.runtime.unit(readonly=True) as ctx:
        assert (await get_branch(ctx, desk.branch_id)).closed_at is None
        assert (await get_terminal(ctx, terminal_id)).name == "Ground floor, by the door"
    assert await _logs_in(desk.runtime, "sco-main-1", password)


@pytest.mark.parametrize("action", ["close", "create"])
async def test_a_form_without_its_csrf_token_changes_nothing(
    desk: DeskHarness, action: str
) -> None:
    client = await _admin(desk)
    if action == "close":
        refused = await client.post(f"/desk/admin/branches/{desk.branch_id}/close", data={})
    else:
        refused = await client.post(
            "/desk/admin/terminals",
            data={"branch": str(desk.branch_id), "login": "sco-x", "name": "X", "csrf": "no"},
        )
    assert refused.status_code == 403
    assert "terminal-password" not in refused.text
    async with desk.runtime.unit(readonly=True) as ctx:
        assert (await get_branch(ctx, desk.branch_id)).closed_at is None
    assert await audit_events(desk.runtime, "terminal:create") == []
    assert await audit_events(desk.runtime, "branch:update") == []
